#!/usr/bin/python3
"""Errors, byte for byte: Debian's AWS CLI v2 against lmqd and the `lmq` CLI.

    LMQ_BIN=... LMQ_HOME=... /usr/bin/python3 awscli_errors.py http://127.0.0.1:PORT

For each failing command of CASES, `aws sqs --endpoint-url EP ARGS` and
`lmq ARGS` (on lmqd's home) must print the same bytes on stdout and stderr
and exit with the same status: 252 for usage and parameter validation
(wrong JSON types included), 254 for service errors with SQS's legacy
Query codes (AWS.SimpleQueueService.NonExistentQueue, ...), 255 for the
rest. lmqd runs with --public-url http://127.0.0.1:9324, the lmq CLI's URL
base, so that both name the same queue URLs.

The AWS CLI is Debian's (awscli 2.9, the code /usr/bin/aws runs), driven
in-process: /usr/bin/aws is `sys.exit(awscli.clidriver.main())`, and each
case runs that entry point in a forked child with its stdout and stderr on
files, which saves the ~2 s start of a Python process per case. The one
difference allowed is the program's name in argparse's usage banner ("aws"
with its subcommand lines / "lmq"), rewritten before comparing.
"""
import os
import subprocess
import sys
import tempfile

import awscli.clidriver

EP = sys.argv[1]
LMQ = os.environ["LMQ_BIN"]
Q = "http://127.0.0.1:9324/000000000000/er-q"
F = "http://127.0.0.1:9324/000000000000/er-f.fifo"
MISSING = "http://127.0.0.1:9324/000000000000/er-missing"

AWS_BANNER = ("usage: aws [options] <command> <subcommand> [<subcommand> ...] "
              "[parameters]\nTo see help text, you can run:\n\n  aws help\n"
              "  aws <command> help\n  aws <command> <subcommand> help\n\n")
LMQ_BANNER = ("usage: lmq [options] <command> [parameters]\nTo see help text, "
              "you can run:\n\n  lmq --help\n  lmq <command> --help\n\n")

ELEVEN = ["Id=%s,MessageBody=%d" % (chr(97 + i), i) for i in range(11)]

CASES = [
    # Service errors (254), with the Query codes.
    ["get-queue-url", "--queue-name", "er-missing"],
    ["receive-message", "--queue-url", MISSING],
    ["send-message", "--queue-url", MISSING, "--message-body", "x"],
    ["get-queue-attributes", "--queue-url", MISSING, "--attribute-names", "All"],
    ["delete-queue", "--queue-url", MISSING],
    ["purge-queue", "--queue-url", MISSING],
    ["tag-queue", "--queue-url", MISSING, "--tags", "a=b"],
    ["list-dead-letter-source-queues", "--queue-url", MISSING],
    ["create-queue", "--queue-name", "er-q", "--attributes", "DelaySeconds=5"],
    ["create-queue", "--queue-name", "bad name!"],
    ["create-queue", "--queue-name", "er-gone"],
    ["create-queue", "--queue-name", "er-x", "--attributes", "Bogus=1"],
    ["create-queue", "--queue-name", "er-x", "--attributes", "VisibilityTimeout=99999"],
    ["set-queue-attributes", "--queue-url", Q, "--attributes", "MaximumMessageSize=5"],
    ["get-queue-attributes", "--queue-url", Q, "--attribute-names", "Bogus"],
    ["delete-message", "--queue-url", Q, "--receipt-handle", "bogus"],
    ["change-message-visibility", "--queue-url", Q, "--receipt-handle", "bogus",
     "--visibility-timeout", "5"],
    ["receive-message", "--queue-url", Q, "--max-number-of-messages", "11"],
    ["receive-message", "--queue-url", Q, "--wait-time-seconds", "21"],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--delay-seconds", "901"],
    ["send-message", "--queue-url", F, "--message-body", "x"],
    ["send-message-batch", "--queue-url", Q, "--entries", "Id=a,MessageBody=x",
     "Id=a,MessageBody=y"],
    ["send-message-batch", "--queue-url", Q, "--entries"] + ELEVEN,
    ["send-message-batch", "--queue-url", Q, "--entries", "Id=a b,MessageBody=x"],
    ["delete-message-batch", "--queue-url", Q, "--entries", "Id=a,ReceiptHandle=bogus",
     "Id=a,ReceiptHandle=bogus"],
    # Usage errors and parameter validation (252), int conversion (255).
    ["send-message", "--queue-url", Q],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--bogus", "1"],
    ["receive-message", "--queue-url", Q, "--max-number-of-messages", "abc"],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--delay-seconds", "1.5"],
    ["create-queue", "--queue-name", "er-x", "--attributes", '{"DelaySeconds": 5}'],
    ["create-queue", "--queue-name", "er-x", "--attributes", '{"DelaySeconds": null}'],
    ["create-queue", "--queue-name", "er-x", "--attributes", '{"DelaySeconds": true}'],
    ["create-queue", "--queue-name", "er-x", "--attributes", '{"DelaySeconds": 1.5}'],
    ["create-queue", "--queue-name", "er-x", "--attributes", '["DelaySeconds"]'],
    ["create-queue", "--queue-name", "er-x", "--tags", '{"a": 1}'],
    ["set-queue-attributes", "--queue-url", Q, "--attributes",
     '{"RedrivePolicy": {"maxReceiveCount": 3, "deadLetterTargetArn": "x"}}'],
    ["tag-queue", "--queue-url", Q, "--tags", '{"a": ["b", 1, null]}'],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--message-attributes",
     '{"a": {"DataType": "String", "StringValue": 5}}'],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--message-attributes",
     '{"a": "b"}'],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--message-attributes",
     '{"a": {"DataType": "String", "Bogus": "x"}}'],
    ["send-message", "--queue-url", Q, "--message-body", "x", "--message-attributes",
     '{"a": {"StringValue": "x"}}'],
    ["send-message-batch", "--queue-url", Q, "--entries", '[{"Id": 1, "MessageBody": "x"}]'],
    ["send-message-batch", "--queue-url", Q, "--entries", '[{"MessageBody": "x"}]'],
    ["send-message-batch", "--queue-url", Q, "--entries",
     '[{"Id": "a", "MessageBody": "x", "Bogus": 1}]'],
    ["send-message-batch", "--queue-url", Q, "--entries",
     '[{"Id": "a", "MessageBody": "x", "DelaySeconds": "5"}]'],
    ["send-message-batch", "--queue-url", Q, "--entries", '["a"]'],
    ["delete-message-batch", "--queue-url", Q, "--entries",
     '[{"Id": "a", "ReceiptHandle": 5}]'],
    ["change-message-visibility-batch", "--queue-url", Q, "--entries",
     '[{"Id": "a", "ReceiptHandle": "h", "VisibilityTimeout": "x"}]'],
    ["get-queue-attributes", "--queue-url", Q, "--attribute-names", "[1]"],
    ["untag-queue", "--queue-url", Q, "--tag-keys", '[{"a": 1}]'],
]


def aws(args, work):
    """Debian's AWS CLI entry point in a forked child: (stdout, stderr, rc)."""
    out, err = os.path.join(work, "a.out"), os.path.join(work, "a.err")
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            sys.argv[0] = "aws"  # argparse's prog, as /usr/bin/aws has it
            for fd, path in ((1, out), (2, err)):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(f, fd)
                os.close(f)
            rc = awscli.clidriver.AWSCLIEntryPoint().main(
                ["sqs", "--endpoint-url", EP] + args)
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: a crash is a difference, not a pass
            rc = 99
        os._exit(rc if isinstance(rc, int) else 99)
    _, st = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(st)
    with open(out, "rb") as f1, open(err, "rb") as f2:
        return f1.read(), f2.read(), rc


def main():
    setup = [["create-queue", "--queue-name", "er-q"],
             ["create-queue", "--queue-name", "er-f.fifo", "--attributes", "FifoQueue=true"],
             ["create-queue", "--queue-name", "er-gone"],
             ["delete-queue", "--queue-url", "er-gone"]]
    for args in setup:
        subprocess.run([LMQ] + args, check=True, stdout=subprocess.DEVNULL)
    fails = 0
    # The sanitizer pass of scripts/test (LMQ_TEST_SAN) runs every third
    # case (a failing command changes nothing); the plain pass runs all.
    san = os.environ.get("LMQ_TEST_SAN", "0") not in ("", "0")
    cases = CASES[::3] if san else CASES
    with tempfile.TemporaryDirectory() as work:
        for args in cases:
            a_out, a_err, a_rc = aws(args, work)
            a_err = a_err.replace(AWS_BANNER.encode(), LMQ_BANNER.encode())
            a_err = a_err.replace(b"\naws: error: ", b"\nlmq: error: ")
            r = subprocess.run([LMQ] + args, capture_output=True)
            if a_rc == 0 or (a_out, a_err, a_rc) != (r.stdout, r.stderr, r.returncode):
                fails += 1
                print("errors: FAIL: lmq %s" % " ".join(args), file=sys.stderr)
                print("  aws: exit %d\n  stdout %r\n  stderr %r" % (a_rc, a_out, a_err),
                      file=sys.stderr)
                print("  lmq: exit %d\n  stdout %r\n  stderr %r" % (r.returncode, r.stdout, r.stderr),
                      file=sys.stderr)
    if fails:
        print("errors: %d of %d cases differ" % (fails, len(cases)), file=sys.stderr)
        return 1
    print("errors: awscli and lmq agree on %d failing commands%s"
          % (len(cases), " (every third: LMQ_TEST_SAN)" if san else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
