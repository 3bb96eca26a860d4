"""orders.py: an SQS-triggered AWS Lambda function, written exactly as it
is deployed (Python runtime, ReportBatchItemFailures on the mapping).

It handles the orders of a batch and reports the ones it could not handle,
so Lambda (or `lmq consume --event lambda --report-batch-item-failures`)
deletes the rest and retries only those.

Locally:
    lmq consume --queue-url orders --event lambda \\
        --report-batch-item-failures --exec 'python3 run-python.py orders.handler'
"""
import json
import os


def handler(event, context):
    batch_item_failures = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            if not isinstance(order.get("qty"), int) or order["qty"] <= 0:
                raise ValueError(
                    f"order {order.get('orderId')}: bad quantity {order.get('qty')}")
            print(f"order {order['orderId']}: {order['qty']} item(s), "
                  f"{context.get_remaining_time_in_millis()} ms left")
            # Where the work would go; the tests read this log.
            log = os.environ.get("ORDERS_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(f"{order['orderId']}\n")
        except Exception as err:  # any failure: report this record only
            print(f"{record['messageId']}: {err}")
            batch_item_failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": batch_item_failures}
