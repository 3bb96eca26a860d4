#!/usr/bin/env python3
"""run-python.py: run a Python Lambda handler once, as `lmq consume --event
lambda --exec` needs it.

The event is read from stdin, the handler is loaded as Lambda loads it
("module.function", from the current directory), called with a minimal
context, and its result is written to stdout as JSON (the function's
response). Logs (print, logging) go to stderr, as Lambda sends them to
CloudWatch and not into the response. A handler that raises exits 1: a
function error.

    python3 run-python.py orders.handler < event.json
"""
import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """The attributes and method of Lambda's Python context object that a
    handler uses most."""

    def __init__(self):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lmq-local")
        self.function_version = "$LATEST"
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = os.environ.get("LMQ_REQUEST_ID", "")
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        deadline = os.environ.get("LMQ_DEADLINE_MS")
        timeout = int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self._deadline_ms = (int(deadline) if deadline
                             else int(time.time() * 1000) + 1000 * timeout)

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    if len(sys.argv) != 2 or "." not in sys.argv[1]:
        print("usage: python3 run-python.py MODULE.FUNCTION < event.json",
              file=sys.stderr)
        return 2
    module, name = sys.argv[1].rsplit(".", 1)
    sys.path.insert(0, os.getcwd())
    event = json.load(sys.stdin)
    response = sys.stdout
    sys.stdout = sys.stderr  # stdout carries the response only
    try:
        handler = getattr(importlib.import_module(module), name)
        result = handler(event, Context())
    except Exception as err:  # a function error, as Lambda reports it
        print(json.dumps({
            "errorMessage": str(err),
            "errorType": type(err).__name__,
            "stackTrace": traceback.format_tb(err.__traceback__),
        }), file=sys.stderr)
        return 1
    response.write(json.dumps(result))
    response.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
