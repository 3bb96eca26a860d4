/*
 * lmq_complete.c: shell completion. `lmq completion bash|zsh` prints a
 * script for the shell; the script asks the hidden `lmq __complete LINE`
 * (LINE: the command line up to the cursor) for the candidates, so the
 * subcommands, the flags of each subcommand and the choices of each flag
 * come from the same tables the parser reads and never go stale.
 *
 * `__complete` prints "word:" and the word being completed (as it split
 * LINE: on blanks, quotes removed) on its first line, then one candidate per line
 * that starts with it, or the line "::files" when the shell should
 * complete a file name. Queue names and URLs are read from the home the
 * line names (--home, else $LMQ_HOME, else the default home) only when
 * that home already exists: completing never creates one, and prints no
 * error (a shell must not show one while the user types).
 *
 * bash splits words at ':' and '=' too (COMP_WORDBREAKS), so a URL is
 * several of its words: the bash script drops from each candidate what
 * precedes the part bash is completing. zsh completes whole words.
 */
#include "lmq_cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Global options taking a value, with their choices (NULL: free text,
 * "::files": a file name). */
static const struct {
    const char *name;
    const char *const *choices;
} global_opts[] = {
    {"home", (const char *const[]){"::files", NULL}},
    {"durability", (const char *const[]){"full", "periodic", "none", NULL}},
    {"map-mode", (const char *const[]){"auto", "pwrite", "writable", NULL}},
    {"flush-interval", NULL},
    {"group", NULL},
    {"key-file", (const char *const[]){"::files", NULL}},
    {"max-home-bytes", NULL},
    {"disk-reserve", NULL},
    {"output", (const char *const[]){"json", "text", "table", "yaml",
                                     "yaml-stream", NULL}},
    {"query", NULL},
    {"color", (const char *const[]){"on", "off", "auto", NULL}},
    {"cli-binary-format",
     (const char *const[]){"base64", "raw-in-base64-out", NULL}},
    {"cli-input-json", NULL},
    {"cli-input-yaml", NULL},
    {"generate-cli-skeleton",
     (const char *const[]){"input", "output", "yaml-input", NULL}},
    {"region", NULL},
    {"endpoint-url", NULL},
    {"profile", NULL},
};
#define NGLOBAL (sizeof global_opts / sizeof global_opts[0])

static const char *const global_bools[] = {
    "strict-permissions", "no-cli-pager", "no-paginate", "debug",
    "no-verify-ssl", "no-sign-request", "version", "help", NULL};

/* The positional words of the commands that take them. */
static const struct {
    const char *cmd;
    const char *const *words;
} cmd_words[] = {
    {"clock", (const char *const[]){"enable", "show", "advance", "set", NULL}},
    {"key", (const char *const[]){"create", "list", "rotate", NULL}},
    {"bridge", (const char *const[]){"run", "status", "resume", NULL}},
    {"completion", (const char *const[]){"bash", "zsh", NULL}},
};

static const char *cur; /* the word being completed */

static void
offer(const char *s)
{
    if (strncmp(s, cur, strlen(cur)) == 0)
        printf("%s\n", s);
}

static void
offer_flag(const char *name)
{
    char buf[128];
    snprintf(buf, sizeof buf, "--%s", name);
    offer(buf);
}

static int
global_index(const char *flag)
{
    for (size_t i = 0; i < NGLOBAL; i++)
        if (strcmp(global_opts[i].name, flag) == 0)
            return (int)i;
    return -1;
}

/* Queue names (and, with urls, URLs) of the home, if it exists. */
static void
offer_queues(const char *home, int urls)
{
    char *def = NULL, path[4096];
    struct stat st;
    lmq_env *env = NULL;
    lmq_env_opts o;
    char **names = NULL;

    if (!home && !(home = getenv("LMQ_HOME"), home && *home)) {
        if (lmq_default_home(&def) != 0)
            return;
        home = def;
    }
    snprintf(path, sizeof path, "%s/data.mdb", home);
    if (stat(path, &st) != 0) {
        free(def);
        return; /* no home there: never create one */
    }
    lmq_env_opts_init(&o);
    if (lmq_env_open(home, &o, &env) == 0 &&
        lmq_queue_list(env, NULL, 0, NULL, &names, NULL) == 0) {
        for (size_t i = 0; names && names[i]; i++) {
            char *url = NULL;
            offer(names[i]);
            if (urls && lmq_queue_url(env, names[i], &url) == 0)
                offer(url);
            free(url);
        }
    }
    lmq_strv_free(names);
    lmq_env_close(env);
    free(def);
}

/* Split line on blanks (quotes removed, no escapes); the last word is the
 * one being completed ("" after a blank). Returns the count; words[] and
 * their text live in buf. */
static size_t
split(char *buf, char **words, size_t max)
{
    size_t n = 0;
    char *r = buf, *w = buf;
    int in_word = 0;
    char quote = 0;

    for (; *r; r++) {
        if (!quote && (*r == ' ' || *r == '\t' || *r == '\n')) {
            if (in_word) {
                *w++ = '\0';
                in_word = 0;
            }
            continue;
        }
        if (!in_word) {
            if (n + 1 >= max)
                break;
            words[n++] = w;
            in_word = 1;
        }
        if (quote ? *r == quote : (*r == '\'' || *r == '"')) {
            quote = quote ? 0 : *r;
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
    if (!in_word) /* after a blank: a new, empty word */
        words[n++] = w;
    return n;
}

int
cli_complete(const cli_cmd *cmds, const char *line)
{
    char *buf = strdup(line ? line : "");
    char *words[256];
    const cli_cmd *cmd = NULL;
    const char *home = NULL;
    size_t n, i;

    if (!buf)
        return CLI_EXIT_OTHER;
    n = split(buf, words, sizeof words / sizeof words[0]);
    cur = words[n - 1];
    printf("word:%s\n", cur); /* never an empty line: shells drop those */
    /* The subcommand and --home among the words before the current one;
     * a global option's value is not a subcommand. */
    for (i = 1; i + 1 < n; i++) {
        const char *w = words[i];
        if (strncmp(w, "--", 2) == 0) {
            int g = global_index(w + 2);
            if (g >= 0 && i + 2 < n) {
                if (strcmp(w + 2, "home") == 0)
                    home = words[i + 1];
                i++;
            }
            continue;
        }
        if (!cmd)
            for (size_t k = 0; cmds[k].name; k++)
                if (strcmp(cmds[k].name, w) == 0)
                    cmd = &cmds[k];
    }
    /* The value of the flag before the cursor. */
    const char *prev = n >= 2 ? words[n - 2] : "";
    if (n >= 3 && strncmp(prev, "--", 2) == 0) {
        int g = global_index(prev + 2);
        if (g >= 0) {
            const char *const *ch = global_opts[g].choices;
            for (; ch && *ch; ch++) {
                if (strcmp(*ch, "::files") == 0)
                    printf("::files\n");
                else
                    offer(*ch);
            }
            free(buf);
            return 0;
        }
        for (size_t k = 0; cmd && cmd->flags[k].name; k++) {
            const cli_flag *f = &cmd->flags[k];
            if (f->kind == CLI_WORDS || f->kind == CLI_BOOL ||
                strcmp(f->name, prev + 2) != 0)
                continue;
            if (strcmp(f->name, "queue-url") == 0)
                offer_queues(home, 1);
            else if (strcmp(f->name, "queue-name") == 0 &&
                     strcmp(cmd->name, "create-queue") != 0)
                offer_queues(home, 0);
            else if (strcmp(f->name, "plot") == 0 ||
                     strcmp(f->name, "config") == 0)
                printf("::files\n");
            free(buf);
            return 0;
        }
    }
    if (!cmd) {
        if (strncmp(cur, "-", 1) == 0) {
            for (i = 0; i < NGLOBAL; i++)
                offer_flag(global_opts[i].name);
            for (i = 0; global_bools[i]; i++)
                offer_flag(global_bools[i]);
        } else {
            for (size_t k = 0; cmds[k].name; k++)
                offer(cmds[k].name);
        }
        free(buf);
        return 0;
    }
    if (strncmp(cur, "-", 1) == 0) {
        for (size_t k = 0; cmd->flags[k].name; k++) {
            int given = 0;
            if (cmd->flags[k].kind == CLI_WORDS)
                continue;
            for (i = 1; i + 1 < n; i++)
                if (strncmp(words[i], "--", 2) == 0 &&
                    strcmp(words[i] + 2, cmd->flags[k].name) == 0)
                    given = 1;
            if (!given)
                offer_flag(cmd->flags[k].name);
        }
        for (i = 0; i < NGLOBAL; i++)
            offer_flag(global_opts[i].name);
        for (i = 0; global_bools[i]; i++)
            offer_flag(global_bools[i]);
    } else {
        for (i = 0; i < sizeof cmd_words / sizeof cmd_words[0]; i++)
            if (strcmp(cmd_words[i].cmd, cmd->name) == 0)
                for (const char *const *w = cmd_words[i].words; *w; w++)
                    offer(*w);
    }
    free(buf);
    return 0;
}

static const char bash_script[] =
    "# bash completion for lmq: source <(lmq completion bash)\n"
    "_lmq() {\n"
    "    local line=${COMP_LINE:0:COMP_POINT}\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    local IFS=$'\\n'\n"
    "    local -a cands\n"
    "    cands=($(command \"${COMP_WORDS[0]}\" __complete \"$line\" "
    "2>/dev/null))\n"
    "    local word=${cands[0]#word:}\n"
    "    cands=(\"${cands[@]:1}\")\n"
    "    COMPREPLY=()\n"
    "    if [[ ${cands[0]} == ::files ]]; then\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    # bash split the word at : and = (COMP_WORDBREAKS): keep the part\n"
    "    # it completes.\n"
    "    [[ $cur == *[=:] && $word != *\"$cur\" ]] && cur=\n"
    "    local pre=${word%\"$cur\"} c\n"
    "    for c in \"${cands[@]}\"; do\n"
    "        COMPREPLY+=(\"${c#\"$pre\"}\")\n"
    "    done\n"
    "}\n"
    "complete -F _lmq lmq\n";

static const char zsh_script[] =
    "#compdef lmq\n"
    "# zsh completion for lmq: source <(lmq completion zsh) after compinit,\n"
    "# or save it as _lmq in a directory of $fpath.\n"
    "_lmq() {\n"
    "    local line=\"${(j: :)${(@)words[1,CURRENT]}}\"\n"
    "    local -a cands\n"
    "    cands=(\"${(@f)$(command ${words[1]} __complete \"$line\" "
    "2>/dev/null)}\")\n"
    "    cands=(\"${(@)cands[2,-1]}\")\n"
    "    if [[ ${cands[1]} == ::files ]]; then\n"
    "        _files\n"
    "        return\n"
    "    fi\n"
    "    (( ${#cands} )) && [[ -n ${cands[1]} ]] && compadd -Q -- "
    "\"${cands[@]}\"\n"
    "}\n"
    "if (( $+functions[compdef] )); then\n"
    "    compdef _lmq lmq\n"
    "fi\n";

int
cli_cmd_completion(cli_ctx *c)
{
    const cli_opt *o = cli_opt_get(c, "SHELL");
    const char *sh = o && o->n ? o->tok[0].s : "";

    if (o && o->n > 1)
        return cli_usage_error("completion: one shell (bash or zsh)");
    if (strcmp(sh, "bash") == 0)
        fputs(bash_script, stdout);
    else if (strcmp(sh, "zsh") == 0)
        fputs(zsh_script, stdout);
    else
        return cli_usage_error("argument SHELL: Invalid choice: '%s' "
                               "(choose from 'bash', 'zsh')",
                               sh);
    return 0;
}

const cli_flag cli_f_completion[] = {
    {"SHELL", CLI_WORDS, 0, "bash or zsh"}, {NULL, CLI_STRING, 0, NULL}};
