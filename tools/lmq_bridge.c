/*
 * lmq_bridge.c: `lmq bridge`, the bridge to Amazon SQS (issue 26;
 * docs/BRIDGE.md):
 *
 *   lmq bridge --config FILE [--lease-ms N]   run the routes in the
 *       foreground until SIGINT/SIGTERM (then exit 0); a status line on
 *       stderr when a route changes state and every 10 seconds
 *   lmq bridge status                         every route of the home, as
 *       the running bridges report them (HOME/bridge-<route>.status);
 *       --output and --query apply
 *   lmq bridge resume [ROUTE]                 retry a paused route now (all
 *       routes without ROUTE), through HOME/bridge-<route>.resume
 *
 * The status and resume files are how a second process sees and steers a
 * running bridge: the lease holder of a route rewrites its status file
 * every second, and takes a resume file within a second.
 */
#include "../lib/homefile.h"
#include "lmq_cli.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

const cli_flag cli_f_bridge[] = {
    {"[status | resume [ROUTE]]", CLI_WORDS, 0,
     "(none): run the routes of --config in the foreground;\n"
     "      status: the routes of the running bridges of the home;\n"
     "      resume [ROUTE]: retry a paused route (every route) now"},
    {"config", CLI_STRING, 0,
     "the routes, JSON: {\"routes\": [{\"kind\": \"forward\", "
     "\"local_queue\": ...,\n      \"remote_url\": ...}]} (docs/BRIDGE.md)"},
    {"lease-ms", CLI_INT, 0,
     "how long a dead holder keeps a route (default 10000)"},
    {NULL, CLI_STRING, 0, NULL}};

/* A route name as the bridge writes it into file names. */
static void
file_name(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s", name);
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == '.'))
            *p = '_';
}

/* ---- status ------------------------------------------------------------- */

/* The status documents of the home's routes, in name order. */
static json_t *
read_statuses(const char *home)
{
    json_t *routes = json_array();
    DIR *d = opendir(home);
    if (!d)
        return routes;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "bridge-", 7) != 0 || len < 14 ||
            strcmp(de->d_name + len - 7, ".status") != 0)
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        if ((names[n] = strdup(de->d_name)) != NULL)
            n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", home, names[i]);
        json_t *j = json_load_file(path, 0, NULL);
        free(names[i]);
        if (!json_is_object(j)) {
            json_decref(j);
            continue;
        }
        /* A holder that died leaves its last word: say so. */
        json_int_t pid = json_integer_value(json_object_get(j, "Pid"));
        int alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
        const char *state = json_string_value(json_object_get(j, "State"));
        json_object_set_new(j, "Running", json_boolean(alive && state &&
                                                       strcmp(state,
                                                              "STOPPED")));
        if (!alive && state && strcmp(state, "STOPPED") != 0)
            json_object_set_new(j, "State", json_string("STOPPED"));
        json_array_append_new(routes, j);
    }
    free(names);
    return routes;
}

static int
cmd_status(cli_ctx *c)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "Routes", read_statuses(c->home));
    cli_print(c, doc);
    return 0;
}

/* ---- resume ------------------------------------------------------------- */

static int
touch_resume(const char *home, const char *route)
{
    char fn[256], path[4096];
    file_name(route, fn, sizeof fn);
    snprintf(path, sizeof path, "%s/bridge-%s.resume", home, fn);
    /* The home's mode, never through a link (lib/homefile.c). */
    int fd = lmq__home_open(path, O_WRONLY | O_CREAT | O_TRUNC);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "lmq bridge: cannot write %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_OTHER;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

static int
cmd_resume(cli_ctx *c, const char *route)
{
    if (route)
        return touch_resume(c->home, route);
    json_t *routes = read_statuses(c->home);
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(routes, i, r) {
        const char *name = json_string_value(json_object_get(r, "Name"));
        if (name && rc == 0)
            rc = touch_resume(c->home, name);
    }
    json_decref(routes);
    return rc;
}

/* ---- run ---------------------------------------------------------------- */

static void
status_line(lmq_bridge *b)
{
    lmq_route_status *st = NULL;
    size_t n = 0;
    if (lmq_bridge_status(b, &st, &n) != 0)
        return;
    char line[4096] = "lmq bridge:";
    for (size_t i = 0; i < n; i++) {
        char part[512];
        if (st[i].kind == LMQ_ROUTE_FORWARD)
            snprintf(part, sizeof part, "%s %s %s shipped %llu backlog %llu",
                     i ? ";" : "", st[i].name,
                     lmq_route_state_name(st[i].state),
                     (unsigned long long)st[i].shipped,
                     (unsigned long long)st[i].backlog);
        else
            snprintf(part, sizeof part, "%s %s %s pulled %llu", i ? ";" : "",
                     st[i].name, lmq_route_state_name(st[i].state),
                     (unsigned long long)st[i].pulled);
        strncat(line, part, sizeof line - strlen(line) - 1);
        if (st[i].last_error[0] && st[i].state != LMQ_ROUTE_ONLINE) {
            snprintf(part, sizeof part, " (%s)", st[i].last_error);
            strncat(line, part, sizeof line - strlen(line) - 1);
        }
    }
    fprintf(stderr, "%s\n", line);
    free(st);
}

/* A digest of the routes' states, to print a line on change. */
static unsigned long
states_key(lmq_bridge *b)
{
    lmq_route_status *st = NULL;
    size_t n = 0;
    unsigned long k = 0;
    if (lmq_bridge_status(b, &st, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        k = k * 7 + (unsigned long)st[i].state;
    free(st);
    return k;
}

static int
cmd_run(cli_ctx *c)
{
    const cli_opt *cfg = cli_opt_get(c, "config");
    int rc;
    if (!cfg)
        return cli_usage_error("the following arguments are required: "
                               "--config");
    /* Signals: blocked from the start, in every thread (the bridge's
     * inherit the mask), so that a SIGTERM that comes while the home opens
     * still stops the bridge gracefully; this thread takes them with
     * sigtimedwait. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    if ((rc = cli_env(c)) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return rc;
    }
    lmq_bridge *b = NULL;
    rc = lmq_bridge_open(c->env, cli_opt_int(c, "lease-ms", 0), &b);
    if (rc == 0)
        rc = lmq_bridge_load_config(b, cfg->tok[0].s);
    if (rc != 0) {
        fprintf(stderr, "lmq bridge: %s\n", cli_strip_errmsg(lmq_errmsg()));
        lmq_bridge_close(b);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return rc == LMQ_EINVAL || rc == LMQ_ENOQUEUE ? CLI_EXIT_USAGE
                                                      : CLI_EXIT_OTHER;
    }
    rc = lmq_bridge_start(b);
    if (rc != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        fprintf(stderr, "lmq bridge: %s\n", cli_strip_errmsg(lmq_errmsg()));
        lmq_bridge_close(b);
        return CLI_EXIT_OTHER;
    }
    unsigned long key = ~0ul;
    time_t last = 0;
    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        unsigned long k = states_key(b);
        time_t now = time(NULL);
        if (k != key || now - last >= 10) {
            status_line(b);
            key = k;
            last = now;
        }
    }
    lmq_bridge_stop(b);
    lmq_bridge_join(b);
    status_line(b);
    lmq_bridge_close(b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

int
cli_cmd_bridge(cli_ctx *c)
{
    const cli_opt *w = c->opt[0].set ? &c->opt[0] : NULL;
    const char *action = w && w->n ? w->tok[0].s : NULL;
    if (!action)
        return cmd_run(c);
    if (strcmp(action, "status") == 0) {
        if (w->n > 1)
            return cli_usage_error("bridge status takes no route");
        c->must_exist = 1; /* reads only: never creates a home */
        return cmd_status(c);
    }
    if (strcmp(action, "resume") == 0) {
        if (w->n > 2)
            return cli_usage_error("bridge resume takes one route at most");
        return cmd_resume(c, w->n > 1 ? w->tok[1].s : NULL);
    }
    return cli_usage_error("bridge: unknown action %s (status, resume)",
                           action);
}
