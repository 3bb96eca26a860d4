#!/usr/bin/python3
"""Access control (issue 22), Python half: Debian boto3 (Query protocol)
with restricted keys against lmqd as tests/check_clients.c starts it for
authz.js (same keys, lib/authz_keys.json).

    /usr/bin/python3 authz_boto3.py http://127.0.0.1:PORT
        (LMQ_HTTPS_ENDPOINT, LMQ_TLS_CA)
    /usr/bin/python3 authz_boto3.py --require-tls http://127.0.0.1:PORT
        (lmqd also started with --require-tls)
    /usr/bin/python3 authz_boto3.py --reload http://127.0.0.1:PORT
        (LMQ_LMQD_PID, LMQ_AUTHZ_CREDENTIALS, LMQ_AUTHZ_POLICIES: lmqd's pid
        and the files it was started with, which this script rewrites)

- the tutorial's worker receives and deletes, and gets AccessDenied (403)
  on send, purge and SetQueueAttributes, which change nothing;
- a queue policy naming the producer lets it send;
- a Deny on aws:SecureTransport=false: denied over HTTP, served over HTTPS;
- with --require-tls: plain HTTP gets InvalidSecurity (403), HTTPS works;
- with --reload: SIGHUP re-reads both files: policy variables
  (${aws:username}) through lmqd, a key added, a key removed, a policy
  tightened, a broken policies file and a broken credentials file (the
  old set stays in force, lmqd keeps serving), and SetQueueAttributes and
  CreateQueue refusing a Policy lmqd cannot evaluate.
"""
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

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


# SIGHUPs in the reload-under-load step (LMQ_TEST_SAN: fewer).
RELOADS = 10 if os.environ.get("LMQ_TEST_SAN") else 40
RELOAD_RE = re.compile(r'^lmqd_config_reloads_total\{result="(success|failure)"\} (\d+)$', re.M)


def reload_counts(ep):
    with urllib.request.urlopen(ep + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return {k: int(v) for k, v in RELOAD_RE.findall(text)}


def write(path, text):
    """As an operator would: a new file renamed over the old one."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def sighup(ep, want):
    """SIGHUP lmqd by its pid; wait (30 s at most) until /metrics counts
    one more reload with result `want` ("success" or "failure")."""
    before = reload_counts(ep)
    os.kill(int(os.environ["LMQ_LMQD_PID"]), signal.SIGHUP)
    deadline = time.time() + 30
    while True:
        now = reload_counts(ep)
        if now.get(want, 0) > before.get(want, 0):
            return
        other = "failure" if want == "success" else "success"
        if now.get(other, 0) > before.get(other, 0):
            raise Failure("reload: wanted %s, got %s (%r)" % (want, other, now))
        if time.time() > deadline:
            raise Failure("no reload counted within 30 s: %r" % now)
        time.sleep(0.05)


def creds_text(keys):
    return "".join("%s %s %s\n" % (K[k]["id"], K[k]["secret"], K[k].get("principal", ""))
                   for k in keys)


def own_queues_policy(actions):
    """One policy for everybody, IAM's ${aws:username} example."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions,
        "Resource": "arn:aws:sqs:*:%s:${aws:username}-*" % K["account"]}]}


def main_reload(ep):
    cpath, ppath = os.environ["LMQ_AUTHZ_CREDENTIALS"], os.environ["LMQ_AUTHZ_POLICIES"]
    K["worker"]["principal"] = "user/worker"
    K["producer"]["principal"] = "arn:aws:iam::%s:user/producer" % K["account"]
    K["partner"]["principal"] = "arn:aws:iam::%s:root" % K["partner_account"]
    K["newbie"] = {"id": "AKIDLMQAUTHZNEWBIE1", "secret": "newbie/secret+00000000000000000000000",
                   "principal": "user/newbie"}
    acct = K["account"]
    admin, worker, producer, newbie = (client(w, ep) for w in ("admin", "worker", "producer", "newbie"))

    def url(q):
        return "%s/%s/%s" % (ep, acct, q)

    receive = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
        "Resource": "arn:aws:sqs:*:%s:reload-*" % acct}]}
    send_own = own_queues_policy(["sqs:SendMessage"])

    with step("the admin creates the queues"):
        for q in ("worker-inbox", "producer-inbox", "newbie-inbox", "reload-jobs"):
            admin.create_queue(QueueName=q)
        admin.send_message(QueueUrl=url("reload-jobs"), MessageBody="job")

    with step("policy variables: ${aws:username} gives each user their own queues"):
        denied("worker before", lambda: worker.send_message(QueueUrl=url("worker-inbox"), MessageBody="w"),
               "sqs:SendMessage")
        write(ppath, json.dumps({"user/worker": [receive, send_own], "user/producer": send_own}))
        sighup(ep, "success")
        worker.send_message(QueueUrl=url("worker-inbox"), MessageBody="w")
        producer.send_message(QueueUrl=url("producer-inbox"), MessageBody="p")
        denied("worker to the producer's queue",
               lambda: worker.send_message(QueueUrl=url("producer-inbox"), MessageBody="x"), "sqs:SendMessage")
        denied("producer to the worker's queue",
               lambda: producer.send_message(QueueUrl=url("worker-inbox"), MessageBody="x"), "sqs:SendMessage")

    with step("a key added"):
        expect_error("newbie before", lambda: newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n"),
                     "InvalidClientTokenId", 403)
        write(cpath, creds_text(["admin", "worker", "producer", "partner", "newbie"]))
        write(ppath, json.dumps({"user/worker": [receive, send_own], "user/producer": send_own,
                                 "user/newbie": send_own}))
        sighup(ep, "success")
        newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n")
        denied("newbie to the worker's queue",
               lambda: newbie.send_message(QueueUrl=url("worker-inbox"), MessageBody="x"), "sqs:SendMessage")

    with step("a key removed"):
        write(cpath, creds_text(["admin", "worker", "partner", "newbie"]))
        sighup(ep, "success")
        expect_error("producer after", lambda: producer.send_message(QueueUrl=url("producer-inbox"),
                                                                     MessageBody="p"),
                     "InvalidClientTokenId", 403)
        worker.send_message(QueueUrl=url("worker-inbox"), MessageBody="still")

    with step("a policy tightened"):
        m = worker.receive_message(QueueUrl=url("reload-jobs"), VisibilityTimeout=0)
        if not m.get("Messages"):
            raise Failure("worker received nothing before tightening: %r" % m)
        deny_outside = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}
        tight = {"user/worker": [send_own, deny_outside], "user/newbie": send_own}
        write(ppath, json.dumps(tight))
        sighup(ep, "success")
        denied("worker receive after", lambda: worker.receive_message(QueueUrl=url("reload-jobs")),
               "sqs:ReceiveMessage")
        e = denied("worker send after", lambda: worker.send_message(QueueUrl=url("worker-inbox"), MessageBody="x"),
                   "sqs:SendMessage")
        if "explicit deny in an identity-based policy" not in e.response["Error"]["Message"]:
            raise Failure("reason: %r" % e.response["Error"]["Message"])

    with step("a broken policies file: the old set stays, lmqd serves"):
        # It would give the worker back its receive, next to a condition
        # key lmqd cannot evaluate: none of it may take effect.
        broken = {"user/worker": [receive, send_own], "user/newbie": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sqs:*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}]}}
        write(ppath, json.dumps(broken))
        sighup(ep, "failure")
        denied("worker receive after a broken reload", lambda: worker.receive_message(QueueUrl=url("reload-jobs")),
               "sqs:ReceiveMessage")
        newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n2")
        write(ppath, "{\"user/worker\": ")
        sighup(ep, "failure")
        newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n3")

    with step("a broken credentials file: the old keys stay"):
        write(ppath, json.dumps(tight))
        write(cpath, creds_text(["admin", "worker", "producer"]) + "AKIDLMQAUTHZBROKEN1 s group/admins\n")
        sighup(ep, "failure")
        expect_error("producer after a broken reload",
                     lambda: producer.send_message(QueueUrl=url("producer-inbox"), MessageBody="p"),
                     "InvalidClientTokenId", 403)
        newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n4")

    with step("repaired files load again"):
        write(cpath, creds_text(["admin", "worker", "producer", "partner"]))
        write(ppath, json.dumps({"user/worker": [receive, send_own], "user/producer": send_own}))
        sighup(ep, "success")
        producer.send_message(QueueUrl=url("producer-inbox"), MessageBody="back")
        worker.receive_message(QueueUrl=url("reload-jobs"))
        expect_error("newbie after", lambda: newbie.send_message(QueueUrl=url("newbie-inbox"), MessageBody="n"),
                     "InvalidClientTokenId", 403)
        with urllib.request.urlopen(ep + "/metrics", timeout=30) as r:
            if "lmqd_config_last_reload_successful 1" not in r.read().decode():
                raise Failure("/metrics does not report the last reload as successful")

    with step("requests during reloads see one set, never a mix"):
        # The churn key is in set A and not in set B. A request checked
        # against one set succeeds (A) or is InvalidClientTokenId (B); one
        # whose signature were checked against A and its policies against
        # B would be AccessDenied.
        K["churn"] = {"id": "AKIDLMQAUTHZCHURN01", "secret": "churn/secret+000000000000000000000000"}
        set_a = creds_text(["admin", "worker", "producer", "partner", "churn"])
        set_b = creds_text(["admin", "worker", "producer", "partner"])
        outcomes, stop = {}, threading.Event()

        def hammer():
            c = client("churn", ep)
            while not stop.is_set():
                try:
                    c.list_queues(QueueNamePrefix="reload-")
                    k = "ok"
                except ClientError as e:
                    k = e.response.get("Error", {}).get("Code")
                except Exception as e:  # noqa: BLE001
                    k = type(e).__name__
                outcomes[k] = outcomes.get(k, 0) + 1

        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for i in range(RELOADS):
                write(cpath, set_a if i % 2 == 0 else set_b)
                sighup(ep, "success")
        finally:
            stop.set()
            for t in threads:
                t.join()
        if set(outcomes) - {"ok", "InvalidClientTokenId"} or not outcomes.get("ok") \
                or not outcomes.get("InvalidClientTokenId"):
            raise Failure("outcomes across %d reloads: %r" % (RELOADS, outcomes))

    with step("a queue Policy lmqd cannot evaluate is refused, naming what"):
        bad = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:us-east-1:%s:reload-jobs" % acct,
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-1/*"}}}]}
        for what, fn in (
                ("set_queue_attributes", lambda: admin.set_queue_attributes(
                    QueueUrl=url("reload-jobs"), Attributes={"Policy": json.dumps(bad)})),
                ("create_queue", lambda: admin.create_queue(
                    QueueName="reload-bad", Attributes={"Policy": json.dumps(bad)}))):
            e = expect_error(what, fn, "InvalidAttributeValue", 400)
            if "aws:PrincipalOrgPaths is not one lmqd knows" not in e.response["Error"]["Message"]:
                raise Failure("%s: message %r" % (what, e.response["Error"]["Message"]))
        a = admin.get_queue_attributes(QueueUrl=url("reload-jobs"), AttributeNames=["Policy"]).get("Attributes", {})
        if a.get("Policy"):
            raise Failure("a refused Policy was stored: %r" % a)

    with step("a queue policy with variables and the new operators works through lmqd"):
        good = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sqs:SendMessage",
             "Resource": "arn:aws:sqs:us-east-1:%s:reload-jobs" % acct,
             "Condition": {"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/worker"},
                           "NumericGreaterThan": {"aws:EpochTime": "1700000000"},
                           "ForAllValues:StringEquals": {"aws:SourceAccount": acct}}}]}
        admin.set_queue_attributes(QueueUrl=url("reload-jobs"), Attributes={"Policy": json.dumps(good)})
        worker.send_message(QueueUrl=url("reload-jobs"), MessageBody="by the queue policy")
        denied("producer by the queue policy",
               lambda: producer.send_message(QueueUrl=url("reload-jobs"), MessageBody="x"), "sqs:SendMessage")


def main():
    args = [a for a in sys.argv[1:] if a not in ("--require-tls", "--reload")]
    sys.argv[1:] = args
    if RELOAD:
        main_reload(endpoint())
        return
    ep, eps = endpoint(), os.environ.get("LMQ_HTTPS_ENDPOINT", "")
    if not eps or not os.environ.get("LMQ_TLS_CA"):
        raise Failure("set LMQ_HTTPS_ENDPOINT and LMQ_TLS_CA")
    if REQUIRE_TLS:
        main_require_tls(ep, eps)
    else:
        main_plain(ep, eps)


REQUIRE_TLS = "--require-tls" in sys.argv[1:]
RELOAD = "--reload" in sys.argv[1:]

if __name__ == "__main__":
    run("authz-boto3" + ("-require-tls" if REQUIRE_TLS else "-reload" if RELOAD else ""), main)
