"""Helpers shared by the Python client scenarios (Debian boto3, Query)."""
import hashlib
import os
import sys
import time
import traceback
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


class Failure(AssertionError):
    pass


_current = ["(start)"]
VERBOSE = bool(os.environ.get("LMQ_TEST_VERBOSE"))


def endpoint():
    ep = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LMQ_ENDPOINT")
    if not ep:
        sys.stderr.write("usage: %s http://127.0.0.1:PORT (or set LMQ_ENDPOINT)\n" % sys.argv[0])
        sys.exit(2)
    return ep.rstrip("/")


def md5(b):
    return hashlib.md5(b).hexdigest()


def client_for(ep, access_key=None, secret_key=None):
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=ep,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=access_key or os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


@contextmanager
def step(name):
    _current[0] = name
    t0 = time.time()
    if VERBOSE:
        sys.stderr.write("-- %s\n" % name)
    yield
    if VERBOSE:
        sys.stderr.write("   ok %s %.0f ms\n" % (name, (time.time() - t0) * 1000))


def describe(e):
    if isinstance(e, ClientError):
        r = e.response
        return "ClientError Code=%r Message=%r HTTP=%r" % (
            r.get("Error", {}).get("Code"), r.get("Error", {}).get("Message"),
            r.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    return "%s: %s" % (type(e).__name__, e)


def expect_error(what, fn, code, status=None):
    """fn() must raise a ClientError with this Error.Code (and HTTP status)."""
    try:
        res = fn()
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if got != code or (status is not None and got_status != status):
            raise Failure("%s: expected error %s (HTTP %s), got %s" % (what, code, status, describe(e)))
        return e
    res = dict(res or {})
    res.pop("ResponseMetadata", None)
    raise Failure("%s: expected error %s, got success %r" % (what, code, res))


def run(name, main):
    t0 = time.time()
    try:
        main()
    except Failure as e:
        sys.stderr.write("%s: FAIL at step %r\n%s\n" % (name, _current[0], e))
        tb = [l for l in traceback.format_tb(e.__traceback__) if "tests/clients/" in l and "pycommon" not in l]
        sys.stderr.write("".join(tb[-2:]))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("%s: FAIL at step %r: unexpected %s\n" % (name, _current[0], describe(e)))
        traceback.print_exc()
        sys.exit(1)
    print("%s: ok (%.0f ms)" % (name, (time.time() - t0) * 1000))
    sys.exit(0)
