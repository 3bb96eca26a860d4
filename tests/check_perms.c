/*
 * check_perms.c: who may open a home (issue 22, lib/perms.c).
 *
 * The modes of every file of new homes (each durability and map mode,
 * umasks 0, 077 and 022), private and group homes; two real Unix users
 * sharing a group home (one sends, the other receives and deletes) while a
 * third, outside the group, gets a clear permission error; warnings and
 * strict refusals for unsafe homes (0755, 0777, group bits without a group,
 * another owner), changing nothing; symbolic links planted in a home are
 * never followed; missing parents of a default home are made 0700; the CLI
 * and lmqd options.
 *
 * The suite needs root (to become other users and to give files to other
 * owners): run as anyone else it fails, saying so. The users are numeric
 * (no /etc/passwd entries needed): TEST_UID_A/B/C below, and the group
 * TEST_GID, given to the users with setgroups().
 */
#include "lmq_test.h"

#include "homefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

/* Unprivileged ids no account uses: the group's two members and one
 * outsider (65534 is nobody, the others are unassigned by convention). */
#define TEST_UID_A 65534
#define TEST_UID_B 64911
#define TEST_UID_C 64912
#define TEST_GID 64913
#define TEST_GID_STR "64913"
#define OUTSIDER_GID 64914

static void
need_root(void)
{
    ck_assert_msg(geteuid() == 0,
                  "check_perms needs root (it becomes other users and gives "
                  "files to other owners); run it as root, as CI and the "
                  "README's test command do");
}

static void
setup(void)
{
    need_root();
    lmq_test_tmp_setup();
    /* Other users must reach homes in here (not list it). */
    ck_assert_int_eq(chmod(lmq_test_dir, 0711), 0);
    unsetenv("LMQ_GROUP");
    unsetenv("LMQ_STRICT_PERMISSIONS");
}

static void
teardown(void)
{
    umask(022);
    lmq_test_tmp_teardown();
}

static void
path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", lmq_test_dir, name);
}

static int
send_text(lmq_queue *q, const char *body)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = strlen(body);
    return lmq_send(q, &e, NULL);
}

/* Open home with the given options (group may be NULL). */
static int
open_home(const char *home, const char *group, int strict, lmq_env **env)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.map_size = 16u << 20;
    o.group = group;
    o.strict_permissions = strict;
    return lmq_env_open(home, &o, env);
}

/* Use every file a home has: a queue, a send, a receive, a delete, the
 * test clock, a sync. */
static void
exercise(const char *home, lmq_durability d, lmq_map_mode mm,
         const char *group)
{
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    lmq_msg *m[1];
    size_t n = 0;
    int del = 0;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_mode = mm;
    o.map_size = 16u << 20;
    o.test_clock = 1;
    o.group = group;
    ck_ok(lmq_env_open(home, &o, &env));
    ck_ok(lmq_queue_create(env, "jobs", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "jobs", &q));
    ck_ok(send_text(q, "hello"));
    ck_ok(lmq_receive(q, NULL, m, 1, &n));
    ck_assert_uint_eq(n, 1);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), &del));
    lmq_msg_free(m[0]);
    ck_ok(lmq_env_sync(env));
    lmq_queue_close(q);
    lmq_env_close(env);
}

/* Every entry of home: a regular file of mode fmode and group gid (or
 * any group when gid == -1); the names every home has are there (and
 * clock, made by exercise(), unless the label starts with '-'). */
static void
assert_modes(const char *home, mode_t dmode, mode_t fmode, long gid,
             const char *label)
{
    static const char *const must[] = {"data.mdb", "lock.mdb", "mapmode",
                                       "lmq.wake", "wal",      "wal.lock",
                                       "clock",    NULL};
    struct stat st;
    ck_assert_int_eq(stat(home, &st), 0);
    ck_assert_msg((st.st_mode & 07777) == dmode,
                  "%s: home directory mode %04o, expected %04o", label,
                  (unsigned)(st.st_mode & 07777), (unsigned)dmode);
    if (gid >= 0)
        ck_assert_msg(st.st_gid == (gid_t)gid, "%s: home group %u", label,
                      (unsigned)st.st_gid);
    DIR *d = opendir(home);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int seen = 0, found[8] = {0};
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", home, e->d_name);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode), "%s: %s is not a regular file",
                      label, e->d_name);
        ck_assert_msg((st.st_mode & 07777) == fmode,
                      "%s: %s has mode %04o, expected %04o", label, e->d_name,
                      (unsigned)(st.st_mode & 07777), (unsigned)fmode);
        if (gid >= 0)
            ck_assert_msg(st.st_gid == (gid_t)gid,
                          "%s: %s belongs to gid %u, expected %ld", label,
                          e->d_name, (unsigned)st.st_gid, gid);
        for (int i = 0; must[i]; i++)
            if (strcmp(must[i], e->d_name) == 0)
                found[i] = 1;
        seen++;
    }
    closedir(d);
    for (int i = 0; must[i]; i++)
        ck_assert_msg(found[i] || (label[0] == '-' && i == 6),
                      "%s: %s missing", label, must[i]);
    ck_assert_int_ge(seen, label[0] == '-' ? 6 : 7);
}

static const lmq_durability durabilities[] = {
    LMQ_DURABILITY_FULL, LMQ_DURABILITY_PERIODIC, LMQ_DURABILITY_NONE};
static const lmq_map_mode map_modes[] = {LMQ_MAP_PWRITE, LMQ_MAP_WRITABLE};
static const mode_t umasks[] = {0, 077, 022};

/* ---- modes of new homes ------------------------------------------------ */

START_TEST(private_home_modes_whatever_the_umask)
{
    for (int d = 0; d < 3; d++)
        for (int m = 0; m < 2; m++)
            for (int u = 0; u < 3; u++) {
                char home[400], label[64];
                snprintf(label, sizeof label, "d%d-m%d-u%03o", d, m,
                         (unsigned)umasks[u]);
                path_in(home, sizeof home, label);
                umask(umasks[u]);
                exercise(home, durabilities[d], map_modes[m], NULL);
                assert_modes(home, 0700, 0600, -1, label);
            }
}
END_TEST

START_TEST(group_home_modes_whatever_the_umask)
{
    for (int d = 0; d < 3; d++)
        for (int m = 0; m < 2; m++)
            for (int u = 0; u < 3; u++) {
                char home[400], label[64];
                snprintf(label, sizeof label, "g-d%d-m%d-u%03o", d, m,
                         (unsigned)umasks[u]);
                path_in(home, sizeof home, label);
                umask(umasks[u]);
                exercise(home, durabilities[d], map_modes[m], TEST_GID_STR);
                assert_modes(home, 02770, 0660, TEST_GID, label);
            }
}
END_TEST

START_TEST(group_by_name_and_by_environment)
{
    char home[400];
    struct group *g = getgrnam("users");
    if (!g)
        g = getgrnam("nogroup");
    ck_assert_msg(g != NULL, "neither group \"users\" nor \"nogroup\" exists");
    gid_t gid = g->gr_gid;
    char name[64];
    snprintf(name, sizeof name, "%s", g->gr_name);
    umask(022);
    path_in(home, sizeof home, "named");
    exercise(home, LMQ_DURABILITY_FULL, LMQ_MAP_AUTO, name);
    assert_modes(home, 02770, 0660, (long)gid, "by name");

    setenv("LMQ_GROUP", TEST_GID_STR, 1);
    path_in(home, sizeof home, "from-env");
    exercise(home, LMQ_DURABILITY_NONE, LMQ_MAP_AUTO, NULL);
    assert_modes(home, 02770, 0660, TEST_GID, "LMQ_GROUP");
    unsetenv("LMQ_GROUP");

    /* A group that does not exist: a clear error, no home made. */
    lmq_env *env = NULL;
    path_in(home, sizeof home, "nosuch");
    ck_lmq(open_home(home, "no-such-group-lmq", 0, &env), LMQ_EINVAL);
    ck_assert_msg(strstr(lmq_errmsg(), "no-such-group-lmq"), "%s",
                  lmq_errmsg());
    ck_assert_int_eq(access(home, F_OK), -1);
}
END_TEST

START_TEST(default_home_parents_made_private)
{
    char fresh[400], *home = NULL;
    struct stat st;
    path_in(fresh, sizeof fresh, "account");
    ck_assert_int_eq(mkdir(fresh, 0755), 0);
    unsetenv("LMQ_HOME");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", fresh, 1);
    umask(0);
    ck_ok(lmq_default_home(&home));
    lmq_env *env = NULL;
    ck_ok(open_home(home, NULL, 1, &env));
    lmq_env_close(env);
    const char *const made[] = {"/.local", "/.local/share",
                                "/.local/share/lmq"};
    for (int i = 0; i < 3; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", fresh, made[i]);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_msg((st.st_mode & 07777) == 0700, "%s has mode %04o", p,
                      (unsigned)(st.st_mode & 07777));
    }
    ck_assert_str_eq(home + strlen(fresh), "/.local/share/lmq");
    free(home);
}
END_TEST

/* ---- two users share a group home --------------------------------------- */

/* Become uid (primary group gid), member of the supplementary groups. */
static void
become(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
    if (setgroups(ngroups, groups) != 0 || setgid(gid) != 0 ||
        setuid(uid) != 0 || geteuid() != uid)
        _exit(90);
    umask(022); /* the common default: must not narrow shared files */
}

static int
wait_child(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child %d ended with status 0x%x", (int)pid,
                  st);
    return WEXITSTATUS(st);
}

static const char *shared_home;

/* Member A: create the home and the queue, send one message. */
static int
member_send(void)
{
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    if (open_home(shared_home, TEST_GID_STR, 1, &env) != 0) {
        fprintf(stderr, "A: %s\n", lmq_errmsg());
        return 10;
    }
    if (lmq_queue_create(env, "shared", NULL, NULL, NULL) != 0 ||
        lmq_queue_open(env, "shared", &q) != 0)
        return 11;
    if (send_text(q, "from A") != 0)
        return 12;
    lmq_queue_close(q);
    lmq_env_close(env);
    return 0;
}

/* Member B: receive A's message and delete it. */
static int
member_receive(void)
{
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    lmq_msg *m[1];
    size_t n = 0, len = 0;
    int del = 0;
    if (open_home(shared_home, TEST_GID_STR, 1, &env) != 0) {
        fprintf(stderr, "B: %s\n", lmq_errmsg());
        return 20;
    }
    if (lmq_queue_open(env, "shared", &q) != 0)
        return 21;
    if (lmq_receive(q, NULL, m, 1, &n) != 0 || n != 1)
        return 22;
    const char *body = lmq_msg_body(m[0], &len);
    if (len != 6 || memcmp(body, "from A", 6) != 0)
        return 23;
    if (lmq_delete(q, lmq_msg_receipt(m[0]), &del) != 0 || !del)
        return 24;
    lmq_msg_free(m[0]);
    if (send_text(q, "from B") != 0)
        return 25;
    lmq_queue_close(q);
    lmq_env_close(env);
    return 0;
}

/* The outsider: refused with LMQ_EPERM naming the home. */
static int
outsider(void)
{
    lmq_env *env = NULL;
    int rc = open_home(shared_home, NULL, 0, &env);
    if (rc != LMQ_EPERM) {
        fprintf(stderr, "outsider: %s (%s)\n", lmq_err_name(rc),
                lmq_errmsg());
        return 30;
    }
    if (!strstr(lmq_errmsg(), shared_home) ||
        !strstr(lmq_errmsg(), "permission denied") ||
        !strstr(lmq_errmsg(), "not in that group"))
        return 31;
    return 0;
}

static pid_t
run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t ng, int (*fn)(void))
{
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        become(uid, gid, groups, ng);
        _exit(fn());
    }
    return pid;
}

START_TEST(two_users_share_a_group_home)
{
    char home[400];
    const gid_t members[] = {TEST_GID};
    const gid_t none[] = {OUTSIDER_GID};
    char srv[400];
    path_in(srv, sizeof srv, "srv");
    path_in(home, sizeof home, "srv/shared");
    shared_home = home;
    umask(022);
    /* The administrator's part: a directory the group may create in and
     * others may pass through (the home itself keeps them out). */
    ck_assert_int_eq(mkdir(srv, 0771), 0);
    ck_assert_int_eq(chown(srv, 0, TEST_GID), 0);
    ck_assert_int_eq(chmod(srv, 0771), 0);

    /* A's primary group is its own; the home's group comes from the
     * supplementary one. */
    ck_assert_int_eq(wait_child(run_as(TEST_UID_A, TEST_UID_A, members, 1,
                                       member_send)),
                     0);
    struct stat st;
    ck_assert_int_eq(stat(home, &st), 0);
    ck_assert_uint_eq(st.st_uid, TEST_UID_A);
    ck_assert_uint_eq(st.st_gid, TEST_GID);
    ck_assert_uint_eq(st.st_mode & 07777, 02770);
    ck_assert_int_eq(wait_child(run_as(TEST_UID_B, TEST_UID_B, members, 1,
                                       member_receive)),
                     0);
    ck_assert_int_eq(wait_child(run_as(TEST_UID_C, OUTSIDER_GID, none, 1,
                                       outsider)),
                     0);

    /* Back as A: B's message is there and A's was deleted. */
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    lmq_msg *m[2];
    size_t n = 0, len = 0;
    ck_ok(open_home(home, TEST_GID_STR, 1, &env));
    ck_ok(lmq_queue_open(env, "shared", &q));
    ck_ok(lmq_receive(q, NULL, m, 2, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(memcmp(lmq_msg_body(m[0], &len), "from B", 6), 0);
    lmq_msg_free(m[0]);
    lmq_queue_close(q);
    lmq_env_close(env);
    assert_modes(home, 02770, 0660, TEST_GID, "-shared (no clock)");
}
END_TEST

/* ---- unsafe homes: warnings, strict refusals ---------------------------- */

/* A listing of home (names, modes, sizes, owners) to prove nothing
 * changed. */
static void
snapshot(const char *home, char *out, size_t n)
{
    struct stat st;
    size_t len = 0;
    out[0] = '\0';
    ck_assert_int_eq(stat(home, &st), 0);
    len += (size_t)snprintf(out + len, n - len, ".:%o:%u:%u;",
                            (unsigned)st.st_mode, (unsigned)st.st_uid,
                            (unsigned)st.st_gid);
    DIR *d = opendir(home);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    /* readdir order is stable for an unchanged directory. */
    while ((e = readdir(d)) != NULL && len < n) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", home, e->d_name);
        ck_assert_int_eq(lstat(p, &st), 0);
        len += (size_t)snprintf(out + len, n - len, "%s:%o:%lld:%u;",
                                e->d_name, (unsigned)st.st_mode,
                                (long long)st.st_size, (unsigned)st.st_uid);
    }
    closedir(d);
}

/* Open home non-strict (a warning containing want) and strict (LMQ_EPERM
 * naming the home and want, nothing changed). */
static void
expect_unsafe(const char *home, const char *group, const char *want)
{
    lmq_env *env = NULL;
    const char *w = NULL;
    char before[4096], after[4096];
    ck_ok(open_home(home, group, 0, &env));
    ck_ok(lmq_env_warnings(env, &w));
    ck_assert_msg(w && strstr(w, want) && strstr(w, home),
                  "warning \"%s\" lacks \"%s\"", w ? w : "(none)", want);
    lmq_env_close(env);

    snapshot(home, before, sizeof before);
    env = (lmq_env *)1;
    ck_lmq(open_home(home, group, 1, &env), LMQ_EPERM);
    ck_assert_ptr_null(env);
    ck_assert_msg(strstr(lmq_errmsg(), want) && strstr(lmq_errmsg(), home),
                  "error \"%s\" lacks \"%s\"", lmq_errmsg(), want);
    snapshot(home, after, sizeof after);
    ck_assert_str_eq(before, after);

    /* The environment variable is as strict as the option. */
    setenv("LMQ_STRICT_PERMISSIONS", "1", 1);
    ck_lmq(open_home(home, group, 0, &env), LMQ_EPERM);
    unsetenv("LMQ_STRICT_PERMISSIONS");
}

static void
make_home(const char *home, const char *group)
{
    exercise(home, LMQ_DURABILITY_NONE, LMQ_MAP_AUTO, group);
}

START_TEST(sound_homes_have_no_warning)
{
    char home[400];
    lmq_env *env = NULL;
    const char *w = "x";
    path_in(home, sizeof home, "sound");
    make_home(home, NULL);
    ck_ok(open_home(home, NULL, 1, &env));
    ck_ok(lmq_env_warnings(env, &w));
    ck_assert_ptr_null(w);
    lmq_env_close(env);

    path_in(home, sizeof home, "sound-group");
    make_home(home, TEST_GID_STR);
    w = "x";
    ck_ok(open_home(home, TEST_GID_STR, 1, &env));
    ck_ok(lmq_env_warnings(env, &w));
    ck_assert_ptr_null(w);
    ck_lmq(lmq_env_warnings(env, NULL), LMQ_EINVAL);
    lmq_env_close(env);
    ck_lmq(lmq_env_warnings(NULL, &w), LMQ_EMISUSE);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(world_open_homes_warn_or_refuse)
{
    char home[400], file[600];
    path_in(home, sizeof home, "h755");
    make_home(home, NULL);
    ck_assert_int_eq(chmod(home, 0755), 0);
    expect_unsafe(home, NULL, "the directory (mode 0755) is open to every "
                              "user");

    path_in(home, sizeof home, "h777");
    make_home(home, NULL);
    ck_assert_int_eq(chmod(home, 0777), 0);
    expect_unsafe(home, NULL, "open to every user");

    path_in(home, sizeof home, "file644");
    make_home(home, NULL);
    snprintf(file, sizeof file, "%s/data.mdb", home);
    ck_assert_int_eq(chmod(file, 0644), 0);
    expect_unsafe(home, NULL, "data.mdb (mode 0644) is open to every user");
}
END_TEST

START_TEST(group_bits_need_a_named_group)
{
    char home[400], file[600];
    path_in(home, sizeof home, "g770");
    make_home(home, NULL);
    ck_assert_int_eq(chmod(home, 0770), 0);
    expect_unsafe(home, NULL, "no group was named");

    /* A group home opened without its group, or with another one. */
    path_in(home, sizeof home, "gh");
    make_home(home, TEST_GID_STR);
    expect_unsafe(home, NULL, "but no group was named");
    expect_unsafe(home, "users", "not to the named group");

    /* A file a member left private: the others cannot use the home. */
    snprintf(file, sizeof file, "%s/wal", home);
    ck_assert_int_eq(chmod(file, 0600), 0);
    expect_unsafe(home, TEST_GID_STR, "wal (mode 0600) is not open to group");
}
END_TEST

START_TEST(another_owner_warns_or_refuses)
{
    char home[400], file[600];
    path_in(home, sizeof home, "owned");
    make_home(home, NULL);
    ck_assert_int_eq(chown(home, TEST_UID_A, (gid_t)-1), 0);
    expect_unsafe(home, NULL, "the directory is owned by uid 65534");

    path_in(home, sizeof home, "file-owned");
    make_home(home, NULL);
    snprintf(file, sizeof file, "%s/lock.mdb", home);
    ck_assert_int_eq(chown(file, TEST_UID_B, (gid_t)-1), 0);
    expect_unsafe(home, NULL, "lock.mdb is owned by uid 64911");
}
END_TEST

/* ---- symbolic links ------------------------------------------------------ */

START_TEST(planted_symlinks_are_never_followed)
{
    static const char *const names[] = {"wal",      "wal.lock", "data.mdb",
                                        "lock.mdb", "lmq.wake", "clock",
                                        "mapmode"};
    char victim[400];
    path_in(victim, sizeof victim, "victim");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char home[400], link[600];
        snprintf(home, sizeof home, "%s/sym-%zu", lmq_test_dir, i);
        FILE *f = fopen(victim, "w");
        ck_assert_ptr_nonnull(f);
        fputs("precious\n", f);
        fclose(f);
        /* An attacker in a shared home's group plants the link before (or
         * after) the home is first used. */
        if (i % 2 == 1)
            make_home(home, TEST_GID_STR);
        else
            ck_assert_int_eq(mkdir(home, 02770), 0);
        ck_assert_int_eq(chown(home, (uid_t)-1, TEST_GID), 0);
        ck_assert_int_eq(chmod(home, 02770), 0);
        snprintf(link, sizeof link, "%s/%s", home, names[i]);
        unlink(link);
        ck_assert_int_eq(symlink(victim, link), 0);

        lmq_env *env = NULL;
        lmq_env_opts o;
        lmq_env_opts_init(&o);
        o.map_size = 16u << 20;
        o.group = TEST_GID_STR;
        o.test_clock = 1;
        o.strict_permissions = 1;
        ck_lmq(lmq_env_open(home, &o, &env), LMQ_EPERM);
        ck_assert_msg(strstr(lmq_errmsg(), "symbolic link"), "%s",
                      lmq_errmsg());
        /* Not strict: the open fails at the link (or, for mapmode, reads
         * nothing through it), and the target is untouched either way. */
        o.strict_permissions = 0;
        int rc = lmq_env_open(home, &o, &env);
        if (rc == 0)
            lmq_env_close(env);
        else
            ck_assert_msg(strstr(lmq_errmsg(), names[i]), "%s: %s", names[i],
                          lmq_errmsg());
        ck_assert_msg(rc != 0 || strcmp(names[i], "mapmode") == 0,
                      "%s: opened through a symbolic link", names[i]);
        char buf[64] = "";
        f = fopen(victim, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
        fclose(f);
        ck_assert_str_eq(buf, "precious\n");
        struct stat st;
        ck_assert_int_eq(stat(victim, &st), 0);
        ck_assert_int_eq(st.st_size, 9);
    }
}
END_TEST

static int run(char *const argv[], char *err, size_t n);

/* The helpers lmq, lmqd and the bridge write their other files of a home
 * with (lmqd-tasks, bridge-*.status/.seen/.lock/.resume). */
START_TEST(other_files_of_a_home_get_its_mode)
{
    const char *const groups[] = {NULL, TEST_GID_STR};
    for (int g = 0; g < 2; g++) {
        char home[400], path[600], tmp[700];
        snprintf(home, sizeof home, "%s/other-%d", lmq_test_dir, g);
        umask(022);
        make_home(home, groups[g]);
        mode_t want = g ? 0660 : 0600;
        struct stat st;

        snprintf(path, sizeof path, "%s/bridge-x.seen", home);
        int fd = lmq__home_open(path, O_WRONLY | O_CREAT | O_APPEND);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, want);
        close(fd);

        snprintf(path, sizeof path, "%s/lmqd-tasks", home);
        ck_assert_int_eq(symlink("/nonexistent-lmq-target", path), 0);
        fd = lmq__home_tmp(path, tmp, sizeof tmp);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "t\n", 2), 2);
        close(fd);
        ck_assert_int_eq(rename(tmp, path), 0); /* replaces the link */
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, want);
        ck_assert_int_eq(access("/nonexistent-lmq-target", F_OK), -1);

        snprintf(path, sizeof path, "%s/bridge-y.lock", home);
        ck_assert_int_eq(symlink(tmp, path), 0);
        errno = 0;
        ck_assert_int_eq(lmq__home_open(path, O_RDWR | O_CREAT), -1);
        ck_assert_int_eq(errno, ELOOP);
        unlink(path);

        /* The CLI's resume file. */
        char err[4096];
        char *res[] = {LMQ_BIN, "--home", home, "bridge", "resume", "r1",
                       NULL};
        ck_assert_int_eq(run(res, err, sizeof err), 0);
        snprintf(path, sizeof path, "%s/bridge-r1.resume", home);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, want);
        if (g)
            ck_assert_uint_eq(st.st_gid, TEST_GID);
        assert_modes(home, g ? 02770 : 0700, want, g ? TEST_GID : -1,
                     "other files");
    }
}
END_TEST

/* ---- the CLI and lmqd ---------------------------------------------------- */

/* Run argv with stderr into err; the exit status. */
static int
run(char *const argv[], char *err, size_t n)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        close(fds[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < n && (r = read(fds[0], err + len, n - 1 - len)) > 0)
        len += (size_t)r;
    err[len] = '\0';
    close(fds[0]);
    /* lmqd must die before it serves: bound the wait generously. */
    for (int i = 0; i < 600; i++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_abort_msg("%s did not exit", argv[0]);
    return -1;
}

START_TEST(cli_and_lmqd_options)
{
    char home[400], err[4096];
    path_in(home, sizeof home, "cli");
    umask(022);
    char *mk[] = {LMQ_BIN, "--home", home, "--group", TEST_GID_STR,
                  "create-queue", "--queue-name", "q", NULL};
    ck_assert_int_eq(run(mk, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    struct stat st;
    ck_assert_int_eq(stat(home, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 02770);
    ck_assert_uint_eq(st.st_gid, TEST_GID);

    /* Without the group: a warning on stderr, the command still runs. */
    char *ls[] = {LMQ_BIN, "--home", home, "list-queues", NULL};
    ck_assert_int_eq(run(ls, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "lmq: warning: unsafe permissions on the home") &&
                      strstr(err, home),
                  "stderr: %s", err);
    /* Strict: refused, exit 253 (AWS CLI's configuration class), the home
     * and the problem named. */
    char *st_ls[] = {LMQ_BIN, "--home", home, "--strict-permissions",
                     "list-queues", NULL};
    ck_assert_int_eq(run(st_ls, err, sizeof err), 253);
    ck_assert_msg(strstr(err, home) && strstr(err, "no group was named"),
                  "stderr: %s", err);

#ifdef LMQD_BIN
    char *d[] = {LMQD_BIN, "--home", home, "--strict-permissions",
                 "--listen", "127.0.0.1:0", "--quiet", NULL};
    int rc = run(d, err, sizeof err);
    ck_assert_msg(rc != 0 && strstr(err, home) &&
                      strstr(err, "no group was named"),
                  "lmqd exit %d, stderr: %s", rc, err);
#endif
}
END_TEST

Suite *
lmq_suite_perms(void)
{
    Suite *s = suite_create("perms");
    TCase *tc = tcase_create("new homes are private or shared with a group");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, private_home_modes_whatever_the_umask);
    tcase_add_test(tc, group_home_modes_whatever_the_umask);
    tcase_add_test(tc, group_by_name_and_by_environment);
    tcase_add_test(tc, default_home_parents_made_private);
    suite_add_tcase(s, tc);

    tc = tcase_create("two users share a home, a third is kept out");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_users_share_a_group_home);
    suite_add_tcase(s, tc);

    tc = tcase_create("unsafe homes warn, strict refuses");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sound_homes_have_no_warning);
    tcase_add_test(tc, world_open_homes_warn_or_refuse);
    tcase_add_test(tc, group_bits_need_a_named_group);
    tcase_add_test(tc, another_owner_warns_or_refuses);
    tcase_add_test(tc, planted_symlinks_are_never_followed);
    tcase_add_test(tc, other_files_of_a_home_get_its_mode);
    tcase_add_test(tc, cli_and_lmqd_options);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_perms());
}
