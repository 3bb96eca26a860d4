/*
 * lmq_admin.c: the operator's toolbox (docs/OPERATIONS.md, issue 23):
 *
 *   lmq check [--repair [--backup-dir DIR]]
 *   lmq backup DIR
 *   lmq dump [--file F]            (default: standard output)
 *   lmq load [--file F] [--merge]  (default: standard input)
 *
 * Each is one library call (lmq_home_check(), lmq_home_backup(),
 * lmq_home_dump(), lmq_home_load()). check, backup and dump never create a
 * home: a path without one is an error naming it. Progress goes to stderr
 * as a bar when stderr is a terminal, and nowhere otherwise (scripts).
 */
#include "lmq_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const cli_flag cli_f_check[] = {
    {"repair", CLI_BOOL, 0,
     "rebuild the indexes and counters from the records (after a\n"
     "      backup), then check again"},
    {"backup-dir", CLI_STRING, 0,
     "with --repair: where the backup goes (default HOME.backup-<time>)"},
    {NULL, CLI_STRING, 0, NULL}};
const cli_flag cli_f_backup[] = {
    {"DIR", CLI_WORDS, 0,
     "a new directory: a consistent copy of the live home, opened as\n"
     "      a home to restore it"},
    {NULL, CLI_STRING, 0, NULL}};
const cli_flag cli_f_dump[] = {
    {"file", CLI_STRING, 0, "write the dump here (default: standard output)"},
    {NULL, CLI_STRING, 0, NULL}};
const cli_flag cli_f_load[] = {
    {"file", CLI_STRING, 0, "read the dump from here (default: standard "
                            "input)"},
    {"merge", CLI_BOOL, 0,
     "add the dump's messages to queues the home already has (else a\n"
     "      dump naming one is refused and nothing changes)"},
    {NULL, CLI_STRING, 0, NULL}};

void
cli_progress(void *arg, uint64_t done, uint64_t total)
{
    const char *label = arg;
    int w = 40, fill = total ? (int)(done * (uint64_t)w / total) : w;
    if (fill > w)
        fill = w;
    fprintf(stderr, "\r%s [%.*s%*s] %llu/%llu", label, fill,
            "########################################", w - fill, "",
            (unsigned long long)done, (unsigned long long)total);
    if (done >= total)
        fputc('\n', stderr);
}

lmq_progress_fn
cli_progress_fn(void)
{
    return isatty(2) ? cli_progress : NULL;
}

/* Open the home of c, refusing to create one. */
static int
existing_env(cli_ctx *c)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", c->home);
    if (stat(path, &st) != 0) {
        fprintf(stderr, "lmq: no lmq home at %s (give --home DIR or set "
                "LMQ_HOME)\n", c->home);
        return CLI_EXIT_OTHER;
    }
    return cli_env(c);
}

/* Print a report (malloc'd JSON from the library) through --query and
 * --output. */
static void
print_report(cli_ctx *c, char *report)
{
    json_t *doc = report ? json_loads(report, 0, NULL) : NULL;
    free(report);
    if (doc)
        cli_print(c, doc);
}

int
cli_cmd_check(cli_ctx *c)
{
    int rc = existing_env(c);
    if (rc)
        return rc;
    char *report = NULL;
    int flags = cli_opt_get(c, "repair") ? LMQ_CHECK_REPAIR : 0;
    if (cli_opt_get(c, "backup-dir") && !flags)
        return cli_usage_error("--backup-dir goes with --repair");
    rc = lmq_home_check(c->env, flags, cli_opt_str(c, "backup-dir"),
                        cli_progress_fn(), "checking", &report);
    if (rc && rc != LMQ_ECORRUPT) {
        free(report);
        return cli_service_error(c, rc);
    }
    print_report(c, report);
    if (rc)
        fprintf(stderr, "lmq check: %s\n", cli_strip_errmsg(lmq_errmsg()));
    return rc ? 1 : 0;
}

int
cli_cmd_backup(cli_ctx *c)
{
    const cli_opt *w = cli_opt_get(c, "DIR");
    if (!w || w->n != 1)
        return cli_usage_error("lmq backup takes one directory");
    int rc = existing_env(c);
    if (rc)
        return rc;
    rc = lmq_home_backup(c->env, w->tok[0].s, cli_progress_fn(), "backup");
    if (rc)
        return cli_service_error(c, rc);
    cli_print(c, json_pack("{s:s,s:s}", "Home", c->home, "Backup",
                           w->tok[0].s));
    return 0;
}

/* Say which queues of the dump are sealed at rest: their messages are in
 * the dump in the clear. */
static void
note_sealed(cli_ctx *c)
{
    static const char *const names[] = {"SqsManagedSseEnabled",
                                        "KmsMasterKeyId", NULL};
    char **qs = NULL, *next = NULL;
    do {
        char *token = next;
        next = NULL;
        if (lmq_queue_list(c->env, NULL, 1000, token, &qs, &next) != 0) {
            free(token);
            return;
        }
        free(token);
        for (size_t i = 0; qs && qs[i]; i++) {
            lmq_map *a = NULL;
            if (lmq_queue_get_attributes(c->env, qs[i], names, &a) != 0)
                continue;
            const char *sse = lmq_map_get(a, "SqsManagedSseEnabled");
            if ((sse && strcmp(sse, "true") == 0) ||
                lmq_map_get(a, "KmsMasterKeyId"))
                fprintf(stderr, "lmq dump: note: queue %s is sealed at "
                        "rest; its messages are in the dump in the clear\n",
                        qs[i]);
            lmq_map_free(a);
        }
        lmq_strv_free(qs);
        qs = NULL;
    } while (next);
}

int
cli_cmd_dump(cli_ctx *c)
{
    const char *file = cli_opt_str(c, "file");
    int rc = existing_env(c), fd = 1;
    if (rc)
        return rc;
    if (file && (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0600)) < 0) {
        fprintf(stderr, "lmq dump: cannot create %s: %s\n", file,
                strerror(errno));
        return CLI_EXIT_OTHER;
    }
    rc = lmq_home_dump(c->env, fd, cli_progress_fn(), "dumping");
    if (file && close(fd) != 0 && rc == 0) {
        fprintf(stderr, "lmq dump: cannot write %s: %s\n", file,
                strerror(errno));
        return CLI_EXIT_OTHER;
    }
    if (rc)
        return cli_service_error(c, rc);
    note_sealed(c);
    return 0;
}

int
cli_cmd_load(cli_ctx *c)
{
    const char *file = cli_opt_str(c, "file");
    int fd = 0, rc;
    if (file && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "lmq load: cannot open %s: %s\n", file,
                strerror(errno));
        return CLI_EXIT_OTHER;
    }
    if ((rc = cli_env(c)) == 0) {
        char *report = NULL;
        rc = lmq_home_load(c->env, fd,
                           cli_opt_get(c, "merge") ? LMQ_LOAD_MERGE : 0,
                           cli_progress_fn(), "loading", &report);
        if (rc)
            rc = cli_service_error(c, rc);
        else
            print_report(c, report);
    }
    if (file)
        close(fd);
    return rc;
}
