/*
 * lmq_key.c: `lmq key`, the keyring of encryption at rest
 * (docs/SECURITY.md, "Encryption at rest"):
 *
 *   lmq --key-file F key create [--alias alias/NAME] [--default]
 *   lmq --key-file F key list
 *   lmq --home H --key-file F key rotate [--alias alias/NAME]
 *
 * The keyring is --key-file, else $LMQ_KEY_FILE. create adds a random
 * 256-bit key (creating the file, mode 0600) and prints its KeyId; list
 * prints the keys without their material; rotate adds a key that takes
 * over the alias (or the home key), re-seals every message of the home with
 * it and drops the old key when nothing needs it, with a progress bar on a
 * terminal (quiet otherwise); rerun after a crash, it finishes the
 * unfinished rotation. Each is one library call (lmq_keyring_add(),
 * lmq_keyring_list(), lmq_key_rotate()).
 */
#include "lmq_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const cli_flag cli_f_key[] = {
    {"ACTION", CLI_WORDS, 0,
     "create | list | rotate\n"
     "      create: add a new random key to the keyring (made 0600 if new);\n"
     "        the first key is the home key (SqsManagedSseEnabled=true)\n"
     "      list: the keys, without their material\n"
     "      rotate: a new key takes over --alias (default: the home key);\n"
     "        every message of --home is re-sealed with it while producers\n"
     "        and consumers run; the old key is dropped when unused (FIFO\n"
     "        deduplication ids it hashed keep it up to 5 minutes: rerun\n"
     "        then to drop it). Rerun after a crash to finish"},
    {"alias", CLI_STRING, 0,
     "create, rotate: alias/NAME for the new key (KmsMasterKeyId=\n"
     "      alias/NAME); an alias another key had moves to the new one"},
    {"default", CLI_BOOL, 0, "create: make the new key the home key"},
    {NULL, CLI_STRING, 0, NULL}};

static int
rotate(cli_ctx *c, const char *file)
{
    char id[LMQ_KEY_ID_MAX];
    const char *alias = cli_opt_str(c, "alias");
    int rc = cli_env(c);
    if (rc)
        return rc;
    (void)file;
    rc = lmq_key_rotate(c->env, alias, cli_progress_fn(), "re-sealing", id);
    if (rc)
        return cli_service_error(c, rc);
    cli_print(c, json_pack("{s:s,s:s?}", "KeyId", id, "Alias", alias));
    return 0;
}

int
cli_cmd_key(cli_ctx *c)
{
    const cli_opt *w = cli_opt_get(c, "ACTION");
    const char *verb = w ? w->tok[0].s : "list";
    const char *file = c->key_file ? c->key_file : getenv("LMQ_KEY_FILE");
    int rc;
    if (w && w->n > 1)
        return cli_usage_error("lmq key %s takes no value", verb);
    if (strcmp(verb, "create") != 0 && strcmp(verb, "list") != 0 &&
        strcmp(verb, "rotate") != 0)
        return cli_usage_error("argument action: Invalid choice: '%s' "
                               "(choose from 'create', 'list', 'rotate')",
                               verb);
    if (!file || !*file)
        return cli_usage_error("lmq key: no keyring: give --key-file FILE or "
                               "set LMQ_KEY_FILE");
    if (strcmp(verb, "rotate") == 0) {
        c->key_file = file; /* the env reads and edits this one */
        return rotate(c, file);
    }
    if (strcmp(verb, "create") == 0) {
        char id[LMQ_KEY_ID_MAX];
        const char *alias = cli_opt_str(c, "alias");
        rc = lmq_keyring_add(file, alias,
                             cli_opt_get(c, "default") ? LMQ_KEY_DEFAULT : 0,
                             id);
        if (rc)
            return cli_service_error(c, rc);
        cli_print(c, json_pack("{s:s,s:s?,s:s}", "KeyId", id, "Alias", alias,
                               "KeyFile", file));
        return 0;
    }
    char *s = NULL;
    if ((rc = lmq_keyring_list(file, &s)) != 0)
        return cli_service_error(c, rc);
    json_t *keys = json_loads(s, 0, NULL);
    free(s);
    if (!keys)
        return CLI_EXIT_OTHER;
    cli_print(c, json_pack("{s:o}", "Keys", keys));
    return 0;
}
