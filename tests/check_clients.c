/*
 * check_clients.c: lmqd against real, unmodified SQS clients (issue 21).
 *
 * Each test starts its own lmqd (LMQD_BIN) on a fresh home in the test's
 * temporary directory and a free 127.0.0.1 port, waits for its readiness
 * line, runs one client scenario from tests/clients/ (CLIENTS_DIR) as a
 * separate process with a clean AWS environment and a time limit, and then
 * stops lmqd with SIGTERM, which must end it cleanly (exit status 0).
 *
 * The clients are pinned: @aws-sdk/client-sqs (JS v3, JSON protocol),
 * aws-sdk v2 and sqs-consumer from tests/clients/package-lock.json
 * (`npm ci --prefix tests/clients`), and Debian's awscli 2.9 and
 * python3-boto3 1.26 (Query protocol). A missing client is a failure with
 * the command that installs it, never a skip.
 *
 * The mixed-access test is in C here: the `lmq` CLI (LMQ_BIN) and a forked
 * child linking liblmq use the same home as lmqd at the same time.
 *
 * Set LMQ_CLIENTS_LOG=1 to run lmqd without --quiet (its access log lands in
 * the test directory and its tail is printed on failure) and the scenarios
 * with LMQ_TEST_VERBOSE=1 (every step on stderr).
 */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#ifndef LMQD_BIN
#error "LMQD_BIN must name the built daemon/lmqd"
#endif
#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif
#ifndef CLIENTS_DIR
#error "CLIENTS_DIR must name tests/clients in the source tree"
#endif

#define PYTHON "/usr/bin/python3"
#define AWSCLI "/usr/bin/aws"
#define SCENARIO_TIMEOUT_S 100
#define TAIL_BYTES 3000

/* The key pair lmqd --auth verify accepts in the SigV4 test. */
#define SIG_AKID "AKIDLMQCLIENTTEST01"
#define SIG_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* tests/clients: CLIENTS_DIR, or $LMQ_CLIENTS_DIR (e.g. for `make distcheck`,
 * whose unpacked source tree has no node_modules). */
static const char *
clients_dir(void)
{
    const char *d = getenv("LMQ_CLIENTS_DIR");
    return d && *d ? d : CLIENTS_DIR;
}

static pid_t lmqd_pid = -1;
static int lmqd_out = -1;    /* read end of lmqd's stdout */
static char endpoint[128];   /* http://127.0.0.1:PORT from the ready line */
static char home[300];       /* the home lmqd serves */

/* bridge_fauxqs: fauxqs (npm, pinned in tests/clients/package.json), a second
 * SQS emulator the bridge must work with, served by tests/clients/fauxqs.js
 * on loopback, and the bridge process. */
static pid_t fauxqs_pid = -1;
static int fauxqs_out = -1;   /* read end of fauxqs' stdout */
static pid_t bridge_pid = -1; /* a running `lmq bridge --config` */
static char fauxqs_ep[128];   /* http://127.0.0.1:PORT */

/* ---- small helpers ------------------------------------------------------ */

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void
tpath(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", lmq_test_dir, name);
}

/* The last TAIL_BYTES of a file, in one of four rotating static buffers
 * (so that a few can appear in one printf); "" if unreadable. */
static const char *
tail_of(const char *path)
{
    static char bufs[4][TAIL_BYTES + 1];
    static unsigned next;
    char *buf = bufs[next++ % 4];
    FILE *f = fopen(path, "rb");
    long len;
    size_t got;

    buf[0] = '\0';
    if (!f)
        return buf;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, len > TAIL_BYTES ? len - TAIL_BYTES : 0, SEEK_SET);
    got = fread(buf, 1, TAIL_BYTES, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A port that was free a moment ago: bind 127.0.0.1:0, read it, close. */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Wait for pid up to timeout_ms; returns 1 with *status set, 0 on timeout. */
static int
wait_for(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
        if (mono_ms() >= deadline)
            return 0;
        sleep_ms(20);
    }
}

static const char *
describe_status(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "status 0x%x", st);
    return buf;
}

/* ---- lmqd ---------------------------------------------------------------- */

/* One try at starting lmqd on `home` and port with extra arguments
 * (NULL-terminated, may be NULL); waits (10 s at most) for its line
 * `lmqd ready http://127.0.0.1:PORT`. Returns 1 when ready, 0 when lmqd
 * exited first (reaped; e.g. the port was taken in the meantime). */
static int
lmqd_try_start(const char *const *extra, int port)
{
    char listen[64], errpath[300], line[256];
    const char *argv[32];
    size_t n = 0, got = 0;
    int pipefd[2], st;
    int64_t deadline;

    /* http:// explicitly: a test may add an https:// listener. */
    snprintf(listen, sizeof listen, "http://127.0.0.1:%d", port);
    tpath(errpath, sizeof errpath, "lmqd.log");
    argv[n++] = LMQD_BIN;
    argv[n++] = "--home";
    argv[n++] = home;
    argv[n++] = "--listen";
    argv[n++] = listen;
    if (!getenv("LMQ_CLIENTS_LOG"))
        argv[n++] = "--quiet";
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    ck_assert_int_eq(pipe(pipefd), 0);
    lmqd_pid = fork();
    ck_assert_int_ge(lmqd_pid, 0);
    if (lmqd_pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(pipefd[1], STDOUT_FILENO);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(LMQD_BIN, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", LMQD_BIN, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    lmqd_out = pipefd[0];

    deadline = mono_ms() + 10000;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd p = {lmqd_out, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        ssize_t r;
        ck_assert_msg(left > 0, "lmqd printed no ready line within 10 s; log:\n%s", tail_of(errpath));
        if (poll(&p, 1, left) <= 0)
            continue;
        r = read(lmqd_out, line + got, sizeof line - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) { /* lmqd exited before it was ready */
            close(lmqd_out);
            lmqd_out = -1;
            if (!wait_for(lmqd_pid, 5000, &st)) {
                kill(lmqd_pid, SIGKILL);
                waitpid(lmqd_pid, &st, 0);
            }
            lmqd_pid = -1;
            return 0;
        }
        got += (size_t)r;
        line[got] = '\0';
    }
    line[got] = '\0';
    line[strcspn(line, "\n")] = '\0';
    {
        char want[96];
        snprintf(want, sizeof want, "lmqd ready http://127.0.0.1:%d", port);
        ck_assert_msg(strcmp(line, want) == 0, "ready line \"%s\", expected \"%s\"", line, want);
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    return 1;
}

/* Start lmqd on `home` and a free port, with extra arguments; three tries
 * (each on a new port), since another process may take a free port between
 * free_port() and lmqd's bind. */
static void
lmqd_start(const char *const *extra)
{
    char errpath[300];
    ck_assert_msg(exists(LMQD_BIN), "lmqd is not built: %s is missing", LMQD_BIN);
    for (int i = 0; i < 3; i++)
        if (lmqd_try_start(extra, free_port()))
            return;
    tpath(errpath, sizeof errpath, "lmqd.log");
    ck_abort_msg("lmqd exited before it was ready (3 tries); log:\n%s", tail_of(errpath));
}

/* SIGTERM lmqd; it must exit 0 within 10 s. */
static void
lmqd_stop(void)
{
    char errpath[300];
    int st = 0;
    pid_t pid = lmqd_pid;

    if (pid <= 0)
        return;
    tpath(errpath, sizeof errpath, "lmqd.log");
    lmqd_pid = -1;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    if (!wait_for(pid, 10000, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("lmqd did not stop within 10 s of SIGTERM; log:\n%s", tail_of(errpath));
    }
    if (lmqd_out >= 0) {
        close(lmqd_out);
        lmqd_out = -1;
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "lmqd did not stop cleanly on SIGTERM (%s); log:\n%s", describe_status(st),
                  tail_of(errpath));
}

/* ---- clients ------------------------------------------------------------- */

/* The Node packages must come from `npm ci` of the committed lockfile. */
static void
require_node_modules(void)
{
    static const char *const pkgs[] = {"@aws-sdk/client-sqs", "aws-sdk", "sqs-consumer",
                                       "@smithy/signature-v4", NULL};
    char path[600];
    for (size_t i = 0; pkgs[i]; i++) {
        snprintf(path, sizeof path, "%s/node_modules/%s/package.json", clients_dir(), pkgs[i]);
        ck_assert_msg(exists(path),
                      "the Node clients are not installed (%s is missing): "
                      "run `npm ci --prefix tests/clients` (scripts/bootstrap does)", path);
    }
}

static void
require_debian_clients(int need_awscli)
{
    ck_assert_msg(exists(PYTHON), "%s is missing: apt-get install python3 python3-boto3", PYTHON);
    ck_assert_msg(system(PYTHON " -c 'import boto3' 2>/dev/null") == 0,
                  "Debian boto3 is missing: apt-get install python3-boto3");
    if (need_awscli)
        ck_assert_msg(exists(AWSCLI), "%s is missing: apt-get install awscli", AWSCLI);
}

/* The environment every client runs in: fixed dummy credentials and region,
 * and nothing from the user's AWS configuration. */
static void
client_env(const char *akid, const char *secret)
{
    char p[300];
    static const char *const drop[] = {
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_CA_BUNDLE", "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
        "https_proxy", "ALL_PROXY", "all_proxy", "NODE_OPTIONS", "PYTHONPATH", NULL};
    for (size_t i = 0; drop[i]; i++)
        unsetenv(drop[i]);
    setenv("AWS_ACCESS_KEY_ID", akid, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    tpath(p, sizeof p, "aws-config");
    setenv("AWS_CONFIG_FILE", p, 1);
    tpath(p, sizeof p, "aws-credentials");
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    tpath(p, sizeof p, "client-home");
    setenv("HOME", p, 1);
    setenv("TMPDIR", lmq_test_dir, 1);
    setenv("AWS_PAGER", "", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED", "true", 1);
    setenv("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1", 1);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("LMQ_ENDPOINT", endpoint, 1);
    setenv("LMQ_BIN", LMQ_BIN, 1);
    setenv("LMQ_HOME", home, 1);
    setenv("LMQ_SCENARIO_TIMEOUT_MS", "95000", 1);
    if (getenv("LMQ_CLIENTS_LOG"))
        setenv("LMQ_TEST_VERBOSE", "1", 1);
}

/* Run argv (argv[0] looked up in PATH) as a scenario named `name`, with the
 * client environment; it must exit 0 within timeout_s. Its stdout/stderr go
 * to NAME.out/NAME.err in the test directory, and their tails (and lmqd's
 * log) are printed when it fails. */
static void
run_client_as(const char *name, const char *const *argv, int timeout_s, const char *akid,
              const char *secret)
{
    char outp[300], errp[300], logp[300];
    int st = 0;
    pid_t pid;

    snprintf(outp, sizeof outp, "%s/%s.out", lmq_test_dir, name);
    snprintf(errp, sizeof errp, "%s/%s.err", lmq_test_dir, name);
    tpath(logp, sizeof logp, "lmqd.log");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        setpgid(0, 0); /* its own group: a timeout kills the client and its children */
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        if (lmqd_out >= 0)
            close(lmqd_out);
        if (chdir(clients_dir()) != 0) {
            fprintf(stderr, "chdir %s: %s\n", clients_dir(), strerror(errno));
            _exit(127);
        }
        client_env(akid, secret);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s%s\n", argv[0], strerror(errno),
                strcmp(argv[0], "node") == 0 ? " (install nodejs)" : "");
        _exit(127);
    }
    setpgid(pid, pid);
    if (!wait_for(pid, timeout_s * 1000, &st)) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        fprintf(stderr, "==== %s: stderr\n%s\n==== %s: stdout\n%s\n==== lmqd log\n%s\n", name,
                tail_of(errp), name, tail_of(outp), tail_of(logp));
        ck_abort_msg("%s did not finish within %d s (killed). Its stderr ends:\n%s", name,
                     timeout_s, tail_of(errp));
    }
    kill(-pid, SIGKILL); /* anything it left behind */
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "==== %s (%s): stderr\n%s\n==== %s: stdout\n%s\n==== lmqd log\n%s\n",
                name, describe_status(st), tail_of(errp), name, tail_of(outp), tail_of(logp));
        ck_abort_msg("%s failed (%s). Its stderr ends:\n%s", name, describe_status(st),
                     tail_of(errp));
    }
}

static void
run_client(const char *name, const char *const *argv)
{
    run_client_as(name, argv, SCENARIO_TIMEOUT_S, "test", "test");
}

static char *
script(const char *file)
{
    static char buf[4][600];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", clients_dir(), file);
    return b;
}

/* ---- fixture ------------------------------------------------------------- */

static void
setup(void)
{
    char p[300];
    lmq_test_tmp_setup();
    tpath(home, sizeof home, "home");
    tpath(p, sizeof p, "client-home");
    ck_assert_int_eq(mkdir(p, 0700), 0);
    tpath(p, sizeof p, "aws-config");
    write_file(p, "");
    tpath(p, sizeof p, "aws-credentials");
    write_file(p, "");
    lmqd_pid = -1;
    lmqd_out = -1;
    endpoint[0] = '\0';
}

/* SIGTERM *pid, then (after 5 s at most) SIGKILL its process group. */
static void
reap_group(pid_t *pid)
{
    int st;
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    wait_for(*pid, 5000, &st);
    kill(-*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    *pid = -1;
}

static void
teardown(void)
{
    if (lmqd_pid > 0) { /* a test that failed before lmqd_stop() */
        int st;
        kill(lmqd_pid, SIGTERM);
        if (!wait_for(lmqd_pid, 5000, &st)) {
            kill(lmqd_pid, SIGKILL);
            waitpid(lmqd_pid, &st, 0);
        }
        lmqd_pid = -1;
    }
    if (lmqd_out >= 0) {
        close(lmqd_out);
        lmqd_out = -1;
    }
    /* bridge_fauxqs: the bridge and fauxqs, if it failed midway */
    reap_group(&bridge_pid);
    reap_group(&fauxqs_pid);
    if (fauxqs_out >= 0) {
        close(fauxqs_out);
        fauxqs_out = -1;
    }
    lmq_test_tmp_teardown();
}

/* ---- scenarios ----------------------------------------------------------- */

/* 1: @aws-sdk/client-sqs v3 against every action. */
START_TEST(test_node_v3)
{
    require_node_modules();
    lmqd_start(NULL);
    {
        const char *argv[] = {"node", script("v3.js"), endpoint, NULL};
        run_client("v3", argv);
    }
    lmqd_stop();
}
END_TEST

/* 2: aws-sdk v2 essentials. */
START_TEST(test_node_v2)
{
    require_node_modules();
    lmqd_start(NULL);
    {
        const char *argv[] = {"node", script("v2.js"), endpoint, NULL};
        run_client("v2", argv);
    }
    lmqd_stop();
}
END_TEST

/* 3: the sqs-consumer tutorial scenario. */
START_TEST(test_sqs_consumer)
{
    require_node_modules();
    lmqd_start(NULL);
    {
        const char *argv[] = {"node", script("consumer.js"), endpoint, NULL};
        run_client("consumer", argv);
    }
    lmqd_stop();
}
END_TEST

/* 4: Debian boto3 (Query) essentials plus the cron-style consumer. */
START_TEST(test_boto3)
{
    require_debian_clients(0);
    lmqd_start(NULL);
    {
        const char *argv[] = {PYTHON, script("boto3_client.py"), endpoint, NULL};
        run_client("boto3", argv);
    }
    lmqd_stop();
}
END_TEST

/* 5: Debian awscli 2.9 (Query). */
START_TEST(test_awscli)
{
    require_debian_clients(1);
    lmqd_start(NULL);
    {
        /* ~25 CLI runs of ~1 s each: the slowest scenario, so more room */
        const char *argv[] = {"/bin/sh", script("awscli.sh"), endpoint, NULL};
        run_client_as("awscli", argv, 330, "test", "test");
    }
    lmqd_stop();
}
END_TEST

/* 6: SigV4 verification, with the JS v3 signer and botocore's. */
START_TEST(test_sigv4)
{
    char creds[300];
    require_node_modules();
    require_debian_clients(0);
    tpath(creds, sizeof creds, "credentials");
    write_file(creds, "# access key id, secret access key\n"
                      "AKIDLMQOTHERKEY0001 some/other+secret\n" SIG_AKID " " SIG_SECRET "\n");
    chmod(creds, 0600);
    {
        const char *extra[] = {"--auth", "verify", "--credentials", creds, NULL};
        lmqd_start(extra);
    }
    {
        const char *argv[] = {"node", script("sigv4.js"), endpoint, NULL};
        run_client_as("sigv4-node", argv, SCENARIO_TIMEOUT_S, SIG_AKID, SIG_SECRET);
    }
    {
        const char *argv[] = {PYTHON, script("sigv4_boto3.py"), endpoint, NULL};
        run_client_as("sigv4-boto3", argv, SCENARIO_TIMEOUT_S, SIG_AKID, SIG_SECRET);
    }
    lmqd_stop();
}
END_TEST

/* 5b: pagination, byte for byte: `aws sqs list-...` against lmqd and the
 * lmq CLI on the same home (lmqd hands out the CLI's URLs). */
START_TEST(test_awscli_paging)
{
    const char *extra[] = {"--public-url", "http://127.0.0.1:9324", NULL};
    require_debian_clients(1);
    lmqd_start(extra);
    {
        const char *argv[] = {"/bin/sh", script("awscli_paging.sh"), endpoint,
                              NULL};
        run_client_as("awscli-paging", argv, 330, "test", "test");
    }
    lmqd_stop();
}
END_TEST

/* 5c: errors, byte for byte: a table of failing commands through Debian's
 * AWS CLI against lmqd and through the lmq CLI on the same home (issue 23):
 * same stdout, stderr and exit status. */
START_TEST(test_awscli_errors)
{
    const char *extra[] = {"--public-url", "http://127.0.0.1:9324", NULL};
    require_debian_clients(1);
    lmqd_start(extra);
    {
        const char *argv[] = {PYTHON, script("awscli_errors.py"), endpoint,
                              NULL};
        run_client_as("awscli-errors", argv, 330, "test", "test");
    }
    lmqd_stop();
}
END_TEST

/* 5d: the rest of the AWS CLI's surface, byte for byte: --output yaml and
 * yaml-stream, skeletons, --cli-input-json/yaml, AWS_DEFAULT_OUTPUT,
 * --cli-binary-format, --color, the pager options (issue 23). */
START_TEST(test_awscli_io)
{
    const char *extra[] = {"--public-url", "http://127.0.0.1:9324", NULL};
    require_debian_clients(1);
    lmqd_start(extra);
    {
        const char *argv[] = {"/bin/sh", script("awscli_io.sh"), endpoint,
                              NULL};
        run_client_as("awscli-io", argv, 330, "test", "test");
    }
    lmqd_stop();
}
END_TEST

/* 6b: access control (issue 22) through the SDKs: the keys and identity
 * policies below (the keys are also in tests/clients/lib/authz_keys.json,
 * which the scripts read), HTTP and HTTPS listeners on one lmqd. */
#define AUTHZ_ACCOUNT "123456789012"

static void
authz_files(char *creds, char *policies, char *cert, char *key, size_t n)
{
    snprintf(creds, n, "%s/authz-credentials", lmq_test_dir);
    snprintf(policies, n, "%s/authz-policies.json", lmq_test_dir);
    snprintf(cert, n, "%s/cert.pem", lmq_test_dir);
    snprintf(key, n, "%s/key.pem", lmq_test_dir);
    write_file(creds,
               "# ACCESS_KEY_ID SECRET [PRINCIPAL]; no principal: the root\n"
               "AKIDLMQAUTHZADMIN01 admin/secret+0000000000000000000000000\n"
               "AKIDLMQAUTHZWORKER1 worker/secret+000000000000000000000000 "
               "user/worker\n"
               "AKIDLMQAUTHZPRODUC1 producer/secret+0000000000000000000000 "
               "arn:aws:iam::" AUTHZ_ACCOUNT ":user/producer\n"
               "AKIDLMQAUTHZPARTNR1 partner/secret+00000000000000000000000 "
               "arn:aws:iam::210987654321:root\n");
    /* The tutorial's worker policy. */
    write_file(policies,
               "{\"user/worker\": {\"Version\": \"2012-10-17\", "
               "\"Statement\": [{\"Effect\": \"Allow\", \"Action\": "
               "[\"sqs:ReceiveMessage\", \"sqs:DeleteMessage\"], "
               "\"Resource\": \"arn:aws:sqs:*:" AUTHZ_ACCOUNT ":authz-*\"}]}}\n");
    {
        char san[64] = "subjectAltName=IP:127.0.0.1";
        const char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                              "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                              "-addext", san, NULL};
        run_client_as("openssl", argv, 60, "test", "test");
    }
}

/* Start lmqd with access control, HTTP (endpoint) and HTTPS listeners;
 * LMQ_HTTPS_ENDPOINT and LMQ_TLS_CA tell the scripts. */
static void
authz_lmqd_start(const char *creds, const char *policies, const char *cert, const char *key,
                 int require_tls)
{
    static char https_listen[64], https_ep[64];
    int port = free_port();
    snprintf(https_listen, sizeof https_listen, "https://127.0.0.1:%d", port);
    snprintf(https_ep, sizeof https_ep, "https://127.0.0.1:%d", port);
    {
        const char *extra[] = {"--account",  AUTHZ_ACCOUNT, "--credentials", creds,
                               "--policies", policies,      "--tls-cert",    cert,
                               "--tls-key",  key,           "--listen",      https_listen,
                               require_tls ? "--require-tls" : NULL, NULL};
        lmqd_start(extra);
    }
    setenv("LMQ_HTTPS_ENDPOINT", https_ep, 1);
    setenv("LMQ_TLS_CA", cert, 1);
}

START_TEST(test_authz)
{
    char creds[300], policies[300], cert[300], key[300];
    require_node_modules();
    require_debian_clients(0);
    authz_files(creds, policies, cert, key, sizeof creds);
    authz_lmqd_start(creds, policies, cert, key, 0);
    {
        const char *argv[] = {"node", script("authz.js"), endpoint, NULL};
        run_client("authz-node", argv);
    }
    {
        const char *argv[] = {PYTHON, script("authz_boto3.py"), endpoint, NULL};
        run_client("authz-boto3", argv);
    }
    lmqd_stop();
    /* The same home, now with --require-tls. */
    authz_lmqd_start(creds, policies, cert, key, 1);
    {
        const char *argv[] = {PYTHON, script("authz_boto3.py"), "--require-tls", endpoint, NULL};
        run_client("authz-require-tls", argv);
    }
    lmqd_stop();
    /* SIGHUP reloads (issue 22): the script rewrites both files and
     * signals this lmqd by its pid. */
    authz_lmqd_start(creds, policies, cert, key, 0);
    {
        char pid[24];
        snprintf(pid, sizeof pid, "%ld", (long)lmqd_pid);
        setenv("LMQ_LMQD_PID", pid, 1);
        setenv("LMQ_AUTHZ_CREDENTIALS", creds, 1);
        setenv("LMQ_AUTHZ_POLICIES", policies, 1);
        const char *argv[] = {PYTHON, script("authz_boto3.py"), "--reload", endpoint, NULL};
        run_client("authz-reload", argv);
    }
    lmqd_stop();
}
END_TEST

/* Run the lmq CLI on the home; it must exit 0. */
static void
lmq_cli(const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = LMQ_BIN;
    argv[n++] = "--home";
    argv[n++] = home;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_client("lmq-cli", argv);
}

/* A forked child linking liblmq: receive BODY from queue (waiting up to 5 s)
 * and delete it (op 'r'), or send BODY (op 's'). Exits 0 on success. */
static pid_t
liblmq_child(char op, const char *queue, const char *body)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *env = NULL;
        lmq_queue *q = NULL;
        int rc = lmq_env_open(home, NULL, &env);
        if (rc != 0) {
            fprintf(stderr, "liblmq child: lmq_env_open: %s\n", lmq_errmsg());
            _exit(1);
        }
        if ((rc = lmq_queue_open(env, queue, &q)) != 0) {
            fprintf(stderr, "liblmq child: lmq_queue_open: %s\n", lmq_errmsg());
            _exit(1);
        }
        if (op == 's') {
            lmq_send_entry e;
            lmq_send_result res;
            lmq_send_entry_init(&e);
            e.body = body;
            e.body_len = strlen(body);
            if ((rc = lmq_send(q, &e, &res)) != 0) {
                fprintf(stderr, "liblmq child: lmq_send: %s\n", lmq_errmsg());
                _exit(1);
            }
        } else {
            lmq_recv_opts o;
            lmq_msg *m[1] = {NULL};
            size_t n = 0, len = 0;
            int deleted = 0;
            const char *b;
            lmq_recv_opts_init(&o);
            o.max_messages = 1;
            o.wait_seconds = 5;
            if ((rc = lmq_receive(q, &o, m, 1, &n)) != 0 || n != 1) {
                fprintf(stderr, "liblmq child: lmq_receive: rc %d, %zu messages: %s\n", rc, n,
                        lmq_errmsg());
                _exit(1);
            }
            b = lmq_msg_body(m[0], &len);
            if (len != strlen(body) || memcmp(b, body, len) != 0) {
                fprintf(stderr, "liblmq child: body \"%.*s\", expected \"%s\"\n", (int)len, b, body);
                _exit(1);
            }
            if (lmq_delete(q, lmq_msg_receipt(m[0]), &deleted) != 0 || !deleted) {
                fprintf(stderr, "liblmq child: lmq_delete: %s (deleted %d)\n", lmq_errmsg(), deleted);
                _exit(1);
            }
            lmq_msg_free(m[0]);
        }
        lmq_queue_close(q);
        lmq_env_close(env);
        _exit(0);
    }
    return pid;
}

static void
expect_child_ok(pid_t pid, const char *what)
{
    int st = 0;
    if (!wait_for(pid, 20000, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("%s did not finish within 20 s", what);
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (%s)", what,
                  describe_status(st));
}

/* 7: the CLI, lmqd and a liblmq program share one home at the same time. */
START_TEST(test_mixed_access)
{
    const char *body_cli = "from the lmq CLI \xe2\x98\x83";
    const char *body_lmqd = "from boto3 through lmqd \xf0\x9f\x98\x80";
    const char *body_c = "from a C program linking liblmq";
    require_debian_clients(0);
    {
        /* The home is made by the CLI before lmqd opens it. */
        const char *args[] = {"create-queue", "--queue-name", "mixed", NULL};
        lmq_cli(args);
    }
    lmqd_start(NULL);
    {
        /* CLI -> home -> lmqd -> boto3 */
        const char *args[] = {"send-message", "--queue-url", "mixed", "--message-body", body_cli,
                              "--message-attributes", "origin={DataType=String,StringValue=cli}",
                              NULL};
        const char *argv[] = {PYTHON, script("mixed.py"), endpoint, "expect", "mixed", body_cli,
                              "origin=cli", NULL};
        lmq_cli(args);
        run_client("mixed-expect-cli", argv);
    }
    {
        /* boto3 -> lmqd -> home -> a liblmq process */
        const char *argv[] = {PYTHON, script("mixed.py"), endpoint, "send", "mixed", body_lmqd, NULL};
        run_client("mixed-send", argv);
        expect_child_ok(liblmq_child('r', "mixed", body_lmqd), "the liblmq child receiving");
    }
    {
        /* a liblmq process wakes a long poll waiting in lmqd */
        const char *argv[] = {PYTHON, script("mixed.py"), endpoint, "expect", "mixed", body_c, NULL};
        char outp[300], errp[300], mark[300];
        int st = 0, reaped = 0;
        int64_t t0;
        pid_t poller;
        tpath(mark, sizeof mark, "poll-started");
        tpath(outp, sizeof outp, "mixed-poll.out");
        tpath(errp, sizeof errp, "mixed-poll.err");
        poller = fork();
        ck_assert_int_ge(poller, 0);
        if (poller == 0) {
            if (!freopen(outp, "w", stdout) || !freopen(errp, "w", stderr))
                _exit(126);
            if (lmqd_out >= 0)
                close(lmqd_out);
            client_env("test", "test");
            setenv("LMQ_MARK_FILE", mark, 1);
            execv(PYTHON, (char *const *)argv);
            _exit(127);
        }
        /* wait until the client is about to poll, then give the request time
         * to reach lmqd and park there */
        t0 = mono_ms();
        while (!exists(mark) && mono_ms() - t0 < 20000 && !reaped) {
            reaped = waitpid(poller, &st, WNOHANG) == poller;
            sleep_ms(20);
        }
        ck_assert_msg(exists(mark), "the polling client did not start:\n%s", tail_of(errp));
        sleep_ms(500);
        t0 = mono_ms();
        expect_child_ok(liblmq_child('s', "mixed", body_c), "the liblmq child sending");
        if (!reaped && !wait_for(poller, 10000, &st)) {
            kill(poller, SIGKILL);
            waitpid(poller, &st, 0);
        }
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "the long poll through lmqd did not get the liblmq message (%s):\n%s",
                      describe_status(st), tail_of(errp));
        ck_assert_msg(mono_ms() - t0 < 4000, "the long poll was not woken by the send (%lld ms)",
                      (long long)(mono_ms() - t0));
    }
    lmqd_stop();
    {
        /* and the CLI still sees a consistent, empty queue */
        const char *args[] = {"get-queue-attributes", "--queue-url", "mixed", "--attribute-names",
                              "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                              NULL};
        char outp[300];
        const char *out;
        lmq_cli(args);
        snprintf(outp, sizeof outp, "%s/lmq-cli.out", lmq_test_dir);
        out = tail_of(outp);
        ck_assert_msg(strstr(out, "\"ApproximateNumberOfMessages\": \"0\"") &&
                          strstr(out, "\"ApproximateNumberOfMessagesNotVisible\": \"0\""),
                      "queue not empty at the end:\n%s", out);
    }
}
END_TEST

/* 8: malformed requests get errors and change nothing. */
START_TEST(test_malformed)
{
    require_debian_clients(0);
    lmqd_start(NULL);
    {
        const char *argv[] = {PYTHON, script("malformed.py"), endpoint, NULL};
        run_client("malformed", argv);
    }
    lmqd_stop();
}
END_TEST

/* 9: the examples a user copies (examples/node, examples/python) run as
 * written against lmqd: an sqs-consumer order pipeline with a DLQ, and a
 * boto3 producer with a cron-style consumer. */
START_TEST(test_examples)
{
    char nodepath[700], node_ex[700], py_ex[700];
    require_node_modules();
    require_debian_clients(0);
    snprintf(nodepath, sizeof nodepath, "NODE_PATH=%s/node_modules",
             clients_dir());
    snprintf(node_ex, sizeof node_ex, "%s/../../examples/node/orders.js",
             clients_dir());
    snprintf(py_ex, sizeof py_ex, "%s/../../examples/python/cron_consumer.py",
             clients_dir());
    lmqd_start(NULL);
    {
        const char *argv[] = {"env", nodepath, "node", node_ex, endpoint,
                              NULL};
        run_client("example-node", argv);
    }
    {
        const char *argv[] = {PYTHON, py_ex, endpoint, NULL};
        run_client("example-python", argv);
    }
    lmqd_stop();
}
END_TEST

/* ---- the bridge against fauxqs (issue 26) -------------------------------- */

/* The whole of a small file (the first 8 KiB), in a static buffer. */
static const char *
slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    size_t got = 0;
    buf[0] = '\0';
    if (f) {
        got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[got] = '\0';
    return buf;
}

/* The stdout of the last run_client(name, ...), whitespace trimmed at the
 * end. */
static const char *
client_out(const char *name)
{
    char p[300];
    char *s;
    size_t n;
    snprintf(p, sizeof p, "%s/%s.out", lmq_test_dir, name);
    s = (char *)slurp(p);
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Start argv in the background like run_client_as() does (client
 * environment, tests/clients as working directory, its own process group,
 * stderr to NAME.err), stdout to a pipe whose read end goes to *out_fd, or
 * to NAME.out when out_fd is NULL. The child gets SIGKILL if the test
 * process dies first (Linux), so a failed test leaves nothing running. */
static pid_t
bg_start(const char *name, const char *const *argv, int *out_fd)
{
    char outp[300], errp[300];
    int pipefd[2] = {-1, -1};
    pid_t parent = getpid(), pid;

    snprintf(outp, sizeof outp, "%s/%s.out", lmq_test_dir, name);
    snprintf(errp, sizeof errp, "%s/%s.err", lmq_test_dir, name);
    if (out_fd)
        ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = out_fd ? pipefd[1] : open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
#endif
        (void)parent;
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        if (out_fd) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        if (fauxqs_out >= 0)
            close(fauxqs_out);
        if (chdir(clients_dir()) != 0) {
            fprintf(stderr, "chdir %s: %s\n", clients_dir(), strerror(errno));
            _exit(127);
        }
        client_env("test", "test");
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s%s\n", argv[0], strerror(errno),
                strcmp(argv[0], "node") == 0 ? " (install nodejs)" : "");
        _exit(127);
    }
    setpgid(pid, pid);
    if (out_fd) {
        close(pipefd[1]);
        *out_fd = pipefd[0];
    }
    return pid;
}

/* SIGTERM pid; it must exit within timeout_ms, with status 0 if must_be_0.
 * Its process group is killed afterwards (whatever it left behind). */
static void
bg_stop(pid_t pid, const char *name, int timeout_ms, int must_be_0)
{
    char errp[300];
    int st = 0;
    snprintf(errp, sizeof errp, "%s/%s.err", lmq_test_dir, name);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    if (!wait_for(pid, timeout_ms, &st)) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("%s did not stop within %d ms of SIGTERM; stderr ends:\n%s", name, timeout_ms,
                     tail_of(errp));
    }
    kill(-pid, SIGKILL);
    ck_assert_msg(!must_be_0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
                  "%s did not stop cleanly on SIGTERM (%s); stderr ends:\n%s", name,
                  describe_status(st), tail_of(errp));
}

/* One try at starting fauxqs on port; waits (30 s at most: node is slow on
 * a loaded machine) for "fauxqs ready http://127.0.0.1:PORT". Returns 0 if
 * it exited first (reaped; e.g. the port was taken in the meantime). */
static int
fauxqs_try_start(int port)
{
    char portarg[16], line[256], errp[300];
    const char *argv[] = {"node", script("fauxqs.js"), "serve", portarg, NULL};
    size_t got = 0;
    int64_t deadline;
    int st;

    snprintf(portarg, sizeof portarg, "%d", port);
    tpath(errp, sizeof errp, "fauxqs.err");
    fauxqs_pid = bg_start("fauxqs", argv, &fauxqs_out);
    deadline = mono_ms() + 30000;
    line[0] = '\0';
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd p = {fauxqs_out, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        ssize_t r;
        ck_assert_msg(left > 0, "fauxqs printed no ready line within 30 s; stderr:\n%s",
                      tail_of(errp));
        if (poll(&p, 1, left) <= 0)
            continue;
        r = read(fauxqs_out, line + got, sizeof line - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fauxqs_out);
            fauxqs_out = -1;
            if (!wait_for(fauxqs_pid, 5000, &st)) {
                kill(-fauxqs_pid, SIGKILL);
                waitpid(fauxqs_pid, &st, 0);
            }
            fauxqs_pid = -1;
            return 0;
        }
        got += (size_t)r;
        line[got] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    snprintf(fauxqs_ep, sizeof fauxqs_ep, "http://127.0.0.1:%d", port);
    {
        char want[160];
        snprintf(want, sizeof want, "fauxqs ready %s", fauxqs_ep);
        ck_assert_msg(strcmp(line, want) == 0, "ready line \"%s\", expected \"%s\"", line, want);
    }
    return 1;
}

static void
fauxqs_start(void)
{
    char p[600], errp[300];
    snprintf(p, sizeof p, "%s/node_modules/fauxqs/dist/app.js", clients_dir());
    ck_assert_msg(exists(p),
                  "fauxqs is not installed (%s is missing): run `npm ci --prefix tests/clients` "
                  "(scripts/bootstrap does)", p);
    for (int i = 0; i < 3; i++)
        if (fauxqs_try_start(free_port()))
            return;
    tpath(errp, sizeof errp, "fauxqs.err");
    ck_abort_msg("fauxqs exited before it was ready (3 tries); stderr:\n%s", tail_of(errp));
}

/* CreateQueue in fauxqs; url gets the QueueUrl it returned. */
static void
fauxqs_create(const char *name, char *url, size_t n)
{
    const char *argv[] = {"node", script("fauxqs.js"), "create", fauxqs_ep, name, NULL};
    const char *out;
    run_client("fauxqs-create", argv);
    out = client_out("fauxqs-create");
    snprintf(url, n, "%.*s", (int)strcspn(out, "\n"), out);
    ck_assert_msg(strncmp(url, "http", 4) == 0, "CreateQueue in fauxqs printed \"%s\"", out);
}

/* Run `lmq bridge --config` with one route of kind from local to the fauxqs
 * queue url (1 s long polls for a pull route). */
static void
bridge_start(const char *kind, const char *local, const char *url)
{
    char cfg[300], text[1200];
    tpath(cfg, sizeof cfg, "bridge.json");
    snprintf(text, sizeof text,
             "{\"routes\":[{\"kind\":\"%s\",\"local_queue\":\"%s\",\"remote_url\":\"%s\","
             "\"endpoint\":\"%s\",\"region\":\"us-east-1\",\"batch_size\":10,\"in_flight\":4,"
             "\"wait_time_seconds\":1}]}\n",
             kind, local, url, fauxqs_ep);
    write_file(cfg, text);
    {
        const char *argv[] = {LMQ_BIN, "--home", home, "bridge", "--config", cfg, NULL};
        bridge_pid = bg_start("bridge", argv, NULL);
    }
}

static void
bridge_stop(void)
{
    pid_t pid = bridge_pid;
    bridge_pid = -1;
    bg_stop(pid, "bridge", 20000, 1);
}

/* Wait (45 s at most) until the route's status shows `counter` (Shipped or
 * Pulled) == want with Backlog 0 and the bridge ONLINE. */
static void
bridge_wait(const char *route, const char *counter, long want)
{
    char query[200], state[32] = "", errp[300];
    const char *argv[] = {LMQ_BIN, "--home", home, "bridge", "status", "--query", query,
                          "--output", "text", NULL};
    int64_t deadline = mono_ms() + 45000;
    long count = -1, backlog = -1;
    int st;

    tpath(errp, sizeof errp, "bridge.err");
    snprintf(query, sizeof query, "Routes[?Name=='%s'] | [0].[State,%s,Backlog]", route, counter);
    for (;;) {
        const char *out;
        ck_assert_msg(waitpid(bridge_pid, &st, WNOHANG) == 0, "the bridge exited (%s); stderr:\n%s",
                      describe_status(st), tail_of(errp));
        run_client("bridge-status", argv);
        out = client_out("bridge-status");
        if (sscanf(out, "%31s %ld %ld", state, &count, &backlog) == 3 &&
            strcmp(state, "ONLINE") == 0 && count == want && backlog == 0)
            return;
        if (mono_ms() > deadline) {
            const char *all[] = {LMQ_BIN, "--home", home, "bridge", "status", NULL};
            run_client("bridge-status", all);
            ck_abort_msg("route %s: no %s %ld with Backlog 0 within 45 s; status:\n%s\n"
                         "bridge stderr:\n%s",
                         route, counter, want, client_out("bridge-status"), tail_of(errp));
        }
        sleep_ms(250);
    }
}

/* ApproximateNumberOfMessages and ...NotVisible of a local queue. */
static void
local_counts(const char *queue, long *visible, long *in_flight)
{
    const char *argv[] = {LMQ_BIN, "--home", home, "get-queue-attributes", "--queue-url", queue,
                          "--attribute-names", "ApproximateNumberOfMessages",
                          "ApproximateNumberOfMessagesNotVisible", "--query",
                          "Attributes.[ApproximateNumberOfMessages,"
                          "ApproximateNumberOfMessagesNotVisible]",
                          "--output", "text", NULL};
    const char *out;
    run_client("lmq-attrs", argv);
    out = client_out("lmq-attrs");
    ck_assert_msg(sscanf(out, "%ld %ld", visible, in_flight) == 2,
                  "get-queue-attributes printed \"%s\"", out);
}

/* 10: the bridge against fauxqs (issue 26: "the local endpoint of another
 * SQS emulator"): a forward route ships 50 local messages, each arriving
 * once with lmq.MessageId; a pull route brings 20 back into a second local
 * queue, each once, and leaves fauxqs empty. */
START_TEST(test_bridge_fauxqs)
{
    char fwd_url[300], pull_url[300];
    require_node_modules();
    fauxqs_start();
    fauxqs_create("lmq-fwd", fwd_url, sizeof fwd_url);
    fauxqs_create("lmq-pull", pull_url, sizeof pull_url);

    /* forward: 50 local messages m0..m49 */
    {
        const char *args[] = {"create-queue", "--queue-name", "out", NULL};
        lmq_cli(args);
    }
    for (int b = 0; b < 5; b++) {
        char entries[1000];
        size_t n = 0;
        n += (size_t)snprintf(entries + n, sizeof entries - n, "[");
        for (int i = b * 10; i < b * 10 + 10; i++)
            n += (size_t)snprintf(entries + n, sizeof entries - n,
                                  "%s{\"Id\":\"e%d\",\"MessageBody\":\"m%d\"}",
                                  i > b * 10 ? "," : "", i, i);
        snprintf(entries + n, sizeof entries - n, "]");
        {
            const char *args[] = {"send-message-batch", "--queue-url", "out", "--entries", entries,
                                  "--query", "length(Failed || `[]`)", "--output", "text", NULL};
            lmq_cli(args);
            ck_assert_str_eq(client_out("lmq-cli"), "0");
        }
    }
    bridge_start("forward", "out", fwd_url);
    bridge_wait("forward:out", "Shipped", 50);
    bridge_stop();
    {
        long visible = -1, in_flight = -1;
        local_counts("out", &visible, &in_flight);
        ck_assert_msg(visible == 0 && in_flight == 0,
                      "local queue out after shipping: %ld visible, %ld in flight", visible,
                      in_flight);
    }
    {
        /* each of m0..m49 once, with lmq.MessageId; then fauxqs is empty */
        const char *argv[] = {"node", script("fauxqs.js"), "expect", fauxqs_ep, fwd_url, "50",
                              "m", "lmq.MessageId", NULL};
        run_client("fauxqs-expect", argv);
    }

    /* pull: 20 fauxqs messages p0..p19 into a second local queue */
    {
        const char *args[] = {"create-queue", "--queue-name", "in", NULL};
        lmq_cli(args);
    }
    {
        const char *argv[] = {"node", script("fauxqs.js"), "send", fauxqs_ep, pull_url, "20", "p",
                              NULL};
        run_client("fauxqs-send", argv);
    }
    bridge_start("pull", "in", pull_url);
    bridge_wait("pull:in", "Pulled", 20);
    {
        /* the remote deletes follow the local commits */
        const char *argv[] = {"node", script("fauxqs.js"), "empty", fauxqs_ep, pull_url, "20000",
                              NULL};
        run_client("fauxqs-empty", argv);
    }
    bridge_stop();
    {
        long visible = -1, in_flight = -1;
        int seen[20] = {0}, total = 0;
        local_counts("in", &visible, &in_flight);
        ck_assert_msg(visible == 20 && in_flight == 0,
                      "local queue in after pulling: %ld visible, %ld in flight (expected 20, 0)",
                      visible, in_flight);
        for (int round = 0; round < 10 && total < 20; round++) {
            const char *args[] = {"receive-message", "--queue-url", "in",
                                  "--max-number-of-messages", "10", "--visibility-timeout", "600",
                                  "--query", "Messages[].Body", "--output", "text", NULL};
            char out[8192], *tok, *save = NULL;
            lmq_cli(args);
            snprintf(out, sizeof out, "%s", client_out("lmq-cli"));
            for (tok = strtok_r(out, " \t\r\n", &save); tok;
                 tok = strtok_r(NULL, " \t\r\n", &save)) {
                char *end;
                long i;
                if (strcmp(tok, "None") == 0)
                    continue;
                i = tok[0] == 'p' ? strtol(tok + 1, &end, 10) : -1;
                ck_assert_msg(i >= 0 && i < 20 && tok[1] && *end == '\0',
                              "unexpected body \"%s\" in the local queue", tok);
                ck_assert_msg(!seen[i], "body %s pulled twice", tok);
                seen[i] = 1;
                total++;
            }
        }
        ck_assert_msg(total == 20, "received %d of the 20 pulled messages", total);
        local_counts("in", &visible, &in_flight);
        ck_assert_msg(visible == 0 && in_flight == 20,
                      "local queue in after receiving all: %ld visible, %ld in flight", visible,
                      in_flight);
    }

    bg_stop(fauxqs_pid, "fauxqs", 15000, 0);
    fauxqs_pid = -1;
    close(fauxqs_out);
    fauxqs_out = -1;
}
END_TEST

Suite *
lmq_suite_clients(void)
{
    Suite *s = suite_create("clients");
    struct {
        const char *name;
        const TTest *test;
    } t[] = {
        {"node_v3", test_node_v3},         {"node_v2", test_node_v2},
        {"sqs_consumer", test_sqs_consumer}, {"boto3", test_boto3},
        {"awscli", test_awscli},           {"sigv4", test_sigv4},
        {"awscli_paging", test_awscli_paging},
        {"awscli_errors", test_awscli_errors},
        {"awscli_io", test_awscli_io},
        {"authz", test_authz},
        {"mixed_access", test_mixed_access}, {"malformed", test_malformed},
        {"examples", test_examples},       {"bridge_fauxqs", test_bridge_fauxqs},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        TCase *tc = tcase_create(t[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, t[i].test == test_awscli ||
                                      t[i].test == test_awscli_paging ||
                                      t[i].test == test_awscli_errors ||
                                      t[i].test == test_awscli_io
                                  ? 360
                                  : 180);
        tcase_add_test(tc, t[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_clients());
}
