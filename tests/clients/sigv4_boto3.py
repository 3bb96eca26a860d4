#!/usr/bin/python3
"""Scenario 6 (Python half): Debian boto3 (Query protocol) against lmqd with
--auth verify. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY hold a pair from the
credentials file.

    /usr/bin/python3 sigv4_boto3.py http://127.0.0.1:PORT
"""
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pycommon import Failure, client_for, endpoint, expect_error, run, step  # noqa: E402


def http_post_url(url):
    """Send a presigned URL as botocore signed it for SQS: POST, empty body."""
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def main():
    ep = endpoint()
    akid = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not akid or akid == "test":
        raise Failure("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to a pair from lmqd --credentials")

    with step("signed with the right keys"):
        sqs = client_for(ep, akid, secret)
        url = sqs.create_queue(QueueName="sig-py")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="signed by botocore")
        m = sqs.receive_message(QueueUrl=url)["Messages"][0]
        if m["Body"] != "signed by botocore":
            raise Failure("body %r" % m["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    with step("wrong secret: SignatureDoesNotMatch"):
        bad = client_for(ep, akid, secret + "x")
        expect_error("list_queues with a wrong secret", bad.list_queues, "SignatureDoesNotMatch", 403)
        expect_error("send_message with a wrong secret",
                     lambda: bad.send_message(QueueUrl=url, MessageBody="forged"), "SignatureDoesNotMatch", 403)

    with step("unknown access key: InvalidClientTokenId"):
        unknown = client_for(ep, "AKIDUNKNOWN00000", secret)
        expect_error("list_queues with an unknown key", unknown.list_queues, "InvalidClientTokenId", 403)

    with step("a presigned URL (query-string SigV4, as boto3 makes it)"):
        signed_url = sqs.generate_presigned_url("get_queue_url", Params={"QueueName": "sig-py"}, ExpiresIn=300)
        status, body = http_post_url(signed_url)
        if status != 200 or ("<QueueUrl>%s</QueueUrl>" % url) not in body:
            raise Failure("presigned URL %s: HTTP %d %s" % (signed_url, status, body[:300]))
        bad = signed_url.replace("QueueName=sig-py", "QueueName=sig-px")
        status, body = http_post_url(bad)
        if status != 403 or "SignatureDoesNotMatch" not in body:
            raise Failure("a presigned URL with a changed parameter: HTTP %d %s" % (status, body[:300]))
        short = sqs.generate_presigned_url("get_queue_url", Params={"QueueName": "sig-py"}, ExpiresIn=1)
        time.sleep(2.2)
        status, body = http_post_url(short)
        if not 400 <= status < 500 or "<Code>" not in body:
            raise Failure("an expired presigned URL: HTTP %d %s" % (status, body[:300]))

    with step("nothing forged was enqueued"):
        n = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        if n["Attributes"]["ApproximateNumberOfMessages"] != "0":
            raise Failure("a forged message was enqueued: %r" % n["Attributes"])


if __name__ == "__main__":
    run("sigv4-boto3", main)
