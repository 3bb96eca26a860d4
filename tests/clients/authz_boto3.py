#!/usr/bin/python3
"""Access control (issue 22), Python half: Debian boto3 (Query protocol)
with restricted keys against lmqd as tests/check_clients.c starts it for
authz.js (same keys, lib/authz_keys.json).

    /usr/bin/python3 authz_boto3.py http://127.0.0.1:PORT
        (LMQ_HTTPS_ENDPOINT, LMQ_TLS_CA)
    /usr/bin/python3 authz_boto3.py --require-tls http://127.0.0.1:PORT
        (lmqd also started with --require-tls)

- the tutorial's worker receives and deletes, and gets AccessDenied (403)
  on send, purge and SetQueueAttributes, which change nothing;
- a queue policy naming the producer lets it send;
- a Deny on aws:SecureTransport=false: denied over HTTP, served over HTTPS;
- with --require-tls: plain HTTP gets InvalidSecurity (403), HTTPS works.
"""
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pycommon import Failure, endpoint, expect_error, run, step  # noqa: E402

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "authz_keys.json")) as f:
    K = json.load(f)
Q = "authz-py"


def client(who, ep):
    return boto3.session.Session().client(
        "sqs", endpoint_url=ep, region_name="us-east-1",
        aws_access_key_id=K[who]["id"], aws_secret_access_key=K[who]["secret"],
        verify=os.environ.get("LMQ_TLS_CA") if ep.startswith("https:") else None,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))


def denied(what, fn, action):
    e = expect_error(what, fn, "AccessDenied", 403)
    msg = e.response["Error"]["Message"]
    if ("is not authorized to perform: %s on resource: " % action.lower()) not in msg:
        raise Failure("%s: AccessDenied message %r" % (what, msg))
    return e


def messages(admin, url):
    a = admin.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return a


def main_plain(ep, eps):
    url = "%s/%s/%s" % (ep, K["account"], Q)
    surl = "%s/%s/%s" % (eps, K["account"], Q)
    arn = "arn:aws:sqs:us-east-1:%s:%s" % (K["account"], Q)
    admin, worker, producer = client("admin", ep), client("worker", ep), client("producer", ep)

    with step("the admin creates and fills the queue"):
        got = admin.create_queue(QueueName=Q, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        if got != url:
            raise Failure("QueueUrl %r, expected %r" % (got, url))
        for b in ("one", "two"):
            admin.send_message(QueueUrl=url, MessageBody=b)

    with step("the worker receives and deletes"):
        m = worker.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        worker.delete_message(QueueUrl=url, ReceiptHandle=m[0]["ReceiptHandle"])

    with step("the worker is denied send, purge, SetQueueAttributes"):
        denied("worker send_message", lambda: worker.send_message(QueueUrl=url, MessageBody="x"), "sqs:SendMessage")
        denied("worker send_message_batch",
               lambda: worker.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}]),
               "sqs:SendMessage")
        denied("worker purge_queue", lambda: worker.purge_queue(QueueUrl=url), "sqs:PurgeQueue")
        denied("worker set_queue_attributes",
               lambda: worker.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"}),
               "sqs:SetQueueAttributes")

    with step("the denied calls changed nothing"):
        a = messages(admin, url)
        if a["ApproximateNumberOfMessages"] != "1" or a["VisibilityTimeout"] != "30":
            raise Failure("queue changed by denied calls: %r" % a)

    with step("a queue policy naming the producer lets it send"):
        denied("producer before", lambda: producer.send_message(QueueUrl=url, MessageBody="p"), "sqs:SendMessage")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:user/producer" % K["account"]},
             "Action": "sqs:SendMessage", "Resource": arn},
            {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
        admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    with step("Deny aws:SecureTransport=false: HTTP denied, HTTPS served"):
        e = denied("producer over HTTP", lambda: producer.send_message(QueueUrl=url, MessageBody="p"),
                   "sqs:SendMessage")
        if "explicit deny in a resource-based policy" not in e.response["Error"]["Message"]:
            raise Failure("reason: %r" % e.response["Error"]["Message"])
        denied("admin over HTTP", lambda: admin.send_message(QueueUrl=url, MessageBody="x"), "sqs:SendMessage")
        client("producer", eps).send_message(QueueUrl=surl, MessageBody="producer over TLS")
        sadmin = client("admin", eps)
        n = sadmin.get_queue_attributes(QueueUrl=surl, AttributeNames=["ApproximateNumberOfMessages"])
        if n["Attributes"]["ApproximateNumberOfMessages"] != "2":
            raise Failure("after one send over TLS: %r" % n["Attributes"])


def main_require_tls(ep, eps):
    url = "%s/%s/%s" % (ep, K["account"], Q)
    surl = "%s/%s/%s" % (eps, K["account"], Q)
    with step("--require-tls: plain HTTP refused with InvalidSecurity"):
        expect_error("admin over HTTP", lambda: client("admin", ep).list_queues(), "InvalidSecurity", 403)
        expect_error("worker over HTTP", lambda: client("worker", ep).receive_message(QueueUrl=url),
                     "InvalidSecurity", 403)
    with step("--require-tls: GET /health stays open over HTTP"):
        with urllib.request.urlopen(ep + "/health", timeout=30) as r:
            body = r.read()
            if r.status != 200 or not body.startswith(b"ok"):
                raise Failure("/health over HTTP: %d %r" % (r.status, body))
    with step("--require-tls: HTTPS served"):
        m = client("worker", eps).receive_message(QueueUrl=surl, MaxNumberOfMessages=10)
        if not m.get("Messages"):
            raise Failure("nothing received over HTTPS: %r" % m)


def main():
    args = [a for a in sys.argv[1:] if a != "--require-tls"]
    sys.argv[1:] = args
    ep, eps = endpoint(), os.environ.get("LMQ_HTTPS_ENDPOINT", "")
    if not eps or not os.environ.get("LMQ_TLS_CA"):
        raise Failure("set LMQ_HTTPS_ENDPOINT and LMQ_TLS_CA")
    if REQUIRE_TLS:
        main_require_tls(ep, eps)
    else:
        main_plain(ep, eps)


REQUIRE_TLS = "--require-tls" in sys.argv[1:]

if __name__ == "__main__":
    run("authz-boto3" + ("-require-tls" if REQUIRE_TLS else ""), main)
