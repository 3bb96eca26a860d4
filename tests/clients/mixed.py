#!/usr/bin/python3
"""Scenario 7 helper (driven by tests/check_clients.c): one step of mixed
access through lmqd with Debian boto3 (Query protocol).

    mixed.py ENDPOINT create QUEUE
    mixed.py ENDPOINT send QUEUE BODY        prints the MessageId
    mixed.py ENDPOINT expect QUEUE BODY [ATTR=VALUE]
        receives one message (long poll, 5 s), checks its body (and a String
        message attribute if given), deletes it; exits 1 if it differs.
        With LMQ_MARK_FILE set, creates that file just before the long poll.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pycommon import Failure, client_for, md5, run, step  # noqa: E402


def main():
    ep, op, queue = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    sqs = client_for(ep)
    url = "%s/000000000000/%s" % (ep, queue)
    if op == "create":
        with step("create_queue %s" % queue):
            got = sqs.create_queue(QueueName=queue)["QueueUrl"]
            if got != url:
                raise Failure("QueueUrl %r, expected %r" % (got, url))
    elif op == "send":
        with step("send_message to %s" % queue):
            r = sqs.send_message(QueueUrl=url, MessageBody=sys.argv[4],
                                 MessageAttributes={"origin": {"DataType": "String", "StringValue": "lmqd"}})
            print(r["MessageId"])
    elif op == "expect":
        body = sys.argv[4]
        with step("receive_message from %s" % queue):
            mark = os.environ.get("LMQ_MARK_FILE")
            if mark:  # tell the driver the long poll is about to start
                sqs.get_queue_url(QueueName=queue)  # (connection and client warm)
                open(mark, "w").close()
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5,
                                    AttributeNames=["All"], MessageAttributeNames=["All"])
            msgs = r.get("Messages", [])
            if len(msgs) != 1:
                raise Failure("expected one message, got %r" % (msgs,))
            m = msgs[0]
            if m["Body"] != body or m["MD5OfBody"] != md5(body.encode()):
                raise Failure("body %r (md5 %s), expected %r" % (m["Body"], m["MD5OfBody"], body))
            for kv in sys.argv[5:]:
                k, v = kv.split("=", 1)
                got = m.get("MessageAttributes", {}).get(k, {}).get("StringValue")
                if got != v:
                    raise Failure("attribute %s = %r, expected %r" % (k, got, v))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            n = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if (n["ApproximateNumberOfMessages"], n["ApproximateNumberOfMessagesNotVisible"]) != ("0", "0"):
                raise Failure("queue not empty after the delete: %r" % n)
    else:
        raise Failure("unknown operation %r" % op)


if __name__ == "__main__":
    run("mixed-" + sys.argv[2] if len(sys.argv) > 2 else "mixed", main)
