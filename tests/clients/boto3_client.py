#!/usr/bin/python3
"""Scenario 4: Debian's python3-boto3 (1.26, Query protocol) against lmqd.

    /usr/bin/python3 boto3_client.py http://127.0.0.1:PORT

The essentials (queues, attributes, tags, messages with String/Number/Binary
attributes, batches with a per-entry failure, errors by Query code, FIFO),
then the producer / cron-style consumer: 25 sends, then receive up to 10 with
AttributeNames=['All'] and MessageAttributeNames=['All'] and delete each by
receipt handle until every message was seen exactly once.
"""
import hashlib
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pycommon import Failure, client_for, endpoint, expect_error, md5, run, step  # noqa: E402

ACCOUNT = "000000000000"


def md5_of_attributes(attrs):
    """MD5OfMessageAttributes (SQS-SEMANTICS.md section 3.4)."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        n, t = name.encode(), a["DataType"].encode()
        buf += struct.pack(">I", len(n)) + n + struct.pack(">I", len(t)) + t
        if a["DataType"].startswith("Binary"):
            v = a["BinaryValue"]
            buf += b"\x02" + struct.pack(">I", len(v)) + v
        else:
            v = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(v)) + v
    return hashlib.md5(buf).hexdigest()


def check(cond, what):
    if not cond:
        raise Failure(what)


def eq(got, want, what):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


def main():
    ep = endpoint()
    sqs = client_for(ep)
    url_of = lambda name: "%s/%s/%s" % (ep, ACCOUNT, name)  # noqa: E731

    def count(url, which="ApproximateNumberOfMessages"):
        return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[which])["Attributes"][which])

    no_queue = ("AWS.SimpleQueueService.NonExistentQueue", 400)

    with step("create_queue, get_queue_url, list_queues"):
        r = sqs.create_queue(QueueName="py-main", Attributes={"VisibilityTimeout": "40"},
                             tags={"team": "py"})
        url = r["QueueUrl"]
        eq(url, url_of("py-main"), "QueueUrl")
        eq(sqs.get_queue_url(QueueName="py-main")["QueueUrl"], url, "get_queue_url")
        sqs.create_queue(QueueName="py-other")
        eq(sorted(sqs.list_queues(QueueNamePrefix="py-")["QueueUrls"]), [url, url_of("py-other")], "list_queues")
        pages, seen, token = 0, [], None
        while True:
            kw = {"QueueNamePrefix": "py-", "MaxResults": 1}
            if token:
                kw["NextToken"] = token
            p = sqs.list_queues(**kw)
            pages += 1
            seen += p["QueueUrls"]
            token = p.get("NextToken")
            if not token or pages > 3:
                break
        eq((pages, sorted(seen)), (2, [url, url_of("py-other")]), "paging with MaxResults=1")
        check("QueueUrls" not in sqs.list_queues(QueueNamePrefix="zz-none"), "no QueueUrls when nothing matches")

    with step("get/set_queue_attributes, tags"):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        eq(a["VisibilityTimeout"], "40", "VisibilityTimeout")
        eq(a["QueueArn"], "arn:aws:sqs:us-east-1:%s:py-main" % ACCOUNT, "QueueArn")
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0", "VisibilityTimeout": "50"})
        eq(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"],
           {"VisibilityTimeout": "50"}, "after set_queue_attributes")
        eq(sqs.list_queue_tags(QueueUrl=url)["Tags"], {"team": "py"}, "tags from create_queue")
        sqs.tag_queue(QueueUrl=url, Tags={"cost": "42"})
        sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        eq(sqs.list_queue_tags(QueueUrl=url)["Tags"], {"cost": "42"}, "tags after tag/untag")
        expect_error("set_queue_attributes with an unknown name",
                     lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"Nope": "1"}),
                     "InvalidAttributeName", 400)

    body = "r\u00e9sum\u00e9\r\nline\rcr \U0001F600 ]]> <&> 'q' \"dq\"\t"
    attrs = {
        "Text": {"DataType": "String", "StringValue": "caf\u00e9 <&>\r"},
        "Qty": {"DataType": "Number", "StringValue": "-12.50"},
        "Raw": {"DataType": "Binary", "BinaryValue": bytes([0, 1, 2, 0xFF, 0x0D])},
        "Kind": {"DataType": "String.custom", "StringValue": "x"},
    }
    with step("send_message with attributes, receive_message All, delete_message"):
        r = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
        eq(r["MD5OfMessageBody"], md5(body.encode()), "MD5OfMessageBody")
        eq(r["MD5OfMessageAttributes"], md5_of_attributes(attrs), "MD5OfMessageAttributes")
        mid = r["MessageId"]
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"],
                                  MaxNumberOfMessages=10)
        eq(len(got.get("Messages", [])), 1, "one message")
        m = got["Messages"][0]
        eq(m["MessageId"], mid, "MessageId")
        eq(m["Body"], body, "Body (CR, non-BMP, ]]> and <&> through XML)")
        eq(m["MD5OfBody"], md5(body.encode()), "MD5OfBody")
        eq(m["MessageAttributes"], attrs, "MessageAttributes")
        eq(m["MD5OfMessageAttributes"], md5_of_attributes(attrs), "MD5OfMessageAttributes on receive")
        eq(m["Attributes"]["ApproximateReceiveCount"], "1", "ApproximateReceiveCount")
        check(abs(int(m["Attributes"]["SentTimestamp"]) - time.time() * 1000) < 60000, "SentTimestamp in ms")
        check("SenderId" in m["Attributes"], "SenderId")
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        m2 = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Qty"])["Messages"][0]
        eq(m2["MessageAttributes"], {"Qty": attrs["Qty"]}, "filtered attributes")
        eq(m2["MD5OfMessageAttributes"], md5_of_attributes({"Qty": attrs["Qty"]}), "MD5 of the subset")
        check("Attributes" not in m2, "no system attributes unless asked")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
        eq(count(url, "ApproximateNumberOfMessagesNotVisible"), 0, "deleted")

    with step("send_message_batch with a failing entry, delete_message_batch"):
        r = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "alpha"},
            {"Id": "bad", "MessageBody": "late", "DelaySeconds": 901},
            {"Id": "b", "MessageBody": "beta", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "x"}}},
        ])
        eq(sorted(s["Id"] for s in r["Successful"]), ["a", "b"], "Successful")
        eq([f["Id"] for f in r.get("Failed", [])], ["bad"], "Failed")
        eq(r["Failed"][0]["SenderFault"], True, "SenderFault")
        eq(r["Failed"][0]["Code"], "InvalidParameterValue", "Failed Code")
        eq([s["MD5OfMessageAttributes"] for s in r["Successful"] if s["Id"] == "b"],
           ["a45daa70926828a2f0a1db3418e6feb4"], "batch MD5OfMessageAttributes")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        eq(sorted(m["Body"] for m in got), ["alpha", "beta"], "batch bodies")
        d = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "x%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
        ] + [{"Id": "junk", "ReceiptHandle": "garbage"}])
        eq(len(d["Successful"]), 2, "deleted two")
        eq([(f["Id"], f["Code"]) for f in d["Failed"]], [("junk", "ReceiptHandleIsInvalid")], "bad handle fails alone")
        eq(count(url) + count(url, "ApproximateNumberOfMessagesNotVisible"), 0, "queue empty")

    with step("errors by Query code"):
        expect_error("get_queue_url of a missing queue", lambda: sqs.get_queue_url(QueueName="py-missing"), *no_queue)
        expect_error("receive_message from a missing queue",
                     lambda: sqs.receive_message(QueueUrl=url_of("py-missing")), *no_queue)
        expect_error("delete_message with garbage",
                     lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage"), "ReceiptHandleIsInvalid", 404)
        expect_error("receive_message MaxNumberOfMessages=11",
                     lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11), "InvalidParameterValue", 400)
        expect_error("send_message_batch with 11 entries",
                     lambda: sqs.send_message_batch(QueueUrl=url, Entries=[
                         {"Id": "e%d" % i, "MessageBody": "m"} for i in range(11)]),
                     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
        expect_error("send_message_batch with duplicate ids",
                     lambda: sqs.send_message_batch(QueueUrl=url, Entries=[
                         {"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}]),
                     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
        expect_error("send_message with a control character",
                     lambda: sqs.send_message(QueueUrl=url, MessageBody="bell \x07"), "InvalidMessageContents", 400)
        eq(count(url), 0, "no error enqueued anything")

    with step("FIFO"):
        f = sqs.create_queue(QueueName="py-orders.fifo",
                             Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        eq(f, url_of("py-orders.fifo"), "FIFO QueueUrl")
        for g, b in [("A", "a1"), ("B", "b1"), ("A", "a2"), ("B", "b2"), ("A", "a3")]:
            r = sqs.send_message(QueueUrl=f, MessageBody=b, MessageGroupId=g)
            check(r["SequenceNumber"].isdigit(), "SequenceNumber")
        sqs.send_message(QueueUrl=f, MessageBody="a1", MessageGroupId="A")  # content-based duplicate
        sqs.send_message(QueueUrl=f, MessageBody="c1", MessageGroupId="C", MessageDeduplicationId="id-1")
        sqs.send_message(QueueUrl=f, MessageBody="c2", MessageGroupId="C", MessageDeduplicationId="id-1")
        eq(count(f), 6, "duplicates dropped")
        expect_error("FIFO send without MessageGroupId",
                     lambda: sqs.send_message(QueueUrl=f, MessageBody="x"), "MissingParameter", 400)
        seen = {}
        for _ in range(10):
            r = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10, AttributeNames=["All"])
            for m in r.get("Messages", []):
                seen.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
                sqs.delete_message(QueueUrl=f, ReceiptHandle=m["ReceiptHandle"])
            if sum(len(v) for v in seen.values()) >= 6:
                break
        eq(seen, {"A": ["a1", "a2", "a3"], "B": ["b1", "b2"], "C": ["c1"]}, "order within groups")

    with step("producer / cron-style consumer: 25 messages, each seen exactly once"):
        work = sqs.create_queue(QueueName="py-work")["QueueUrl"]
        sent = {}
        for i in range(25):
            r = sqs.send_message(QueueUrl=work, MessageBody="job %d" % i,
                                 MessageAttributes={"seq": {"DataType": "Number", "StringValue": str(i)}})
            sent[r["MessageId"]] = "job %d" % i
        seen = {}
        for _ in range(30):
            r = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10, AttributeNames=["All"],
                                    MessageAttributeNames=["All"], WaitTimeSeconds=1)
            msgs = r.get("Messages", [])
            check(len(msgs) <= 10, "at most 10 per receive")
            for m in msgs:
                eq(m["Attributes"]["ApproximateReceiveCount"], "1", "first delivery of %s" % m["MessageId"])
                eq(m["MessageAttributes"]["seq"]["StringValue"], m["Body"].split()[1], "seq attribute")
                check(m["MessageId"] not in seen, "message %s seen twice" % m["MessageId"])
                seen[m["MessageId"]] = m["Body"]
                sqs.delete_message(QueueUrl=work, ReceiptHandle=m["ReceiptHandle"])
            if len(seen) == 25:
                break
        eq(seen, sent, "every message exactly once")
        check("Messages" not in sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10), "queue drained")
        eq(count(work) + count(work, "ApproximateNumberOfMessagesNotVisible"), 0, "counters at zero")

    with step("DLQ through Query: RedrivePolicy, list_dead_letter_source_queues"):
        dlq = sqs.create_queue(QueueName="py-dlq")["QueueUrl"]
        src = sqs.create_queue(QueueName="py-src", Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:%s:py-dlq" % ACCOUNT, "maxReceiveCount": "1"})})["QueueUrl"]
        mid = sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]
        eq(len(sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]), 1, "first delivery")
        check("Messages" not in sqs.receive_message(QueueUrl=src, VisibilityTimeout=0), "moved, not delivered")
        m = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
        eq((m["MessageId"], m["Body"]), (mid, "poison"), "the message in the DLQ")
        eq(m["Attributes"].get("DeadLetterQueueSourceArn"), "arn:aws:sqs:us-east-1:%s:py-src" % ACCOUNT,
           "DeadLetterQueueSourceArn")
        eq(sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [src], "list_dead_letter_source_queues")

    with step("change_message_visibility_batch, add/remove_permission, more Query codes"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}])
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
        eq(len(got), 2, "two in flight")
        r = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "v0", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "v1", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "vx", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}])
        eq(sorted(s["Id"] for s in r["Successful"]), ["v0", "v1"], "visibility batch Successful")
        eq([(f["Id"], f["Code"]) for f in r["Failed"]], [("vx", "ReceiptHandleIsInvalid")], "visibility batch Failed")
        eq(count(url), 2, "both visible again")
        sqs.add_permission(QueueUrl=url, Label="py-perm", AWSAccountIds=["111122223333", "444455556666"],
                           Actions=["SendMessage", "ReceiveMessage"])
        pol = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
        st = [s for s in pol["Statement"] if s.get("Sid") == "py-perm"]
        eq(len(st), 1, "one statement for the label")
        principals = json.dumps(st[0]["Principal"])
        check("111122223333" in principals and "444455556666" in principals, "both accounts in %s" % principals)
        actions = json.dumps(st[0]["Action"])
        check("SQS:SendMessage" in actions and "SQS:ReceiveMessage" in actions, "both actions in %s" % actions)
        sqs.remove_permission(QueueUrl=url, Label="py-perm")
        left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy", "")
        check("py-perm" not in left, "label removed: %s" % left)
        expect_error("create_queue with a conflicting attribute",
                     lambda: sqs.create_queue(QueueName="py-main", Attributes={"VisibilityTimeout": "7"}),
                     "QueueAlreadyExists", 400)

    with step("purge_queue, delete_queue"):
        sqs.send_message(QueueUrl=url, MessageBody="to purge")
        sqs.purge_queue(QueueUrl=url)
        eq(count(url), 0, "purged")
        expect_error("a second purge within 60 s", lambda: sqs.purge_queue(QueueUrl=url),
                     "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
        sqs.delete_queue(QueueUrl=url)
        expect_error("get_queue_url after delete_queue", lambda: sqs.get_queue_url(QueueName="py-main"), *no_queue)
        expect_error("create_queue within 60 s of the delete", lambda: sqs.create_queue(QueueName="py-main"),
                     "AWS.SimpleQueueService.QueueDeletedRecently", 400)


if __name__ == "__main__":
    run("boto3", main)
