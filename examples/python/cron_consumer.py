#!/usr/bin/env python3
"""A producer and a cron-style consumer on lmqd, written as for Amazon SQS.

    lmqd --ephemeral --listen 127.0.0.1:9324 &
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        python3 examples/python/cron_consumer.py http://127.0.0.1:9324

The producer sends 25 reports; the consumer runs as a cron job would: it
drains the queue in receives of up to 10 (with every attribute), handles
each message and deletes it by its receipt handle. Exits 0 when every
report was handled exactly once.
"""
import sys

import boto3

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9324"
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")

url = sqs.create_queue(QueueName="reports")["QueueUrl"]
for i in range(25):
    sqs.send_message(
        QueueUrl=url,
        MessageBody=f"report {i}",
        MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}},
    )


def cron_run():
    """One run of the cron job: handle what is there, then exit."""
    handled = []
    while True:
        r = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        msgs = r.get("Messages", [])
        if not msgs:
            return handled
        for m in msgs:
            handled.append(int(m["MessageAttributes"]["n"]["StringValue"]))
            print(f"{m['Body']} (sent at {m['Attributes']['SentTimestamp']})")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


seen = cron_run()
ok = sorted(seen) == list(range(25))
print(f"handled {len(seen)} reports, {'each once' if ok else 'NOT each once'}")
sys.exit(0 if ok else 1)
