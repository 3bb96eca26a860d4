#!/usr/bin/python3
"""Scenario 8: malformed requests, sent as raw HTTP, get their errors and
leave the home unchanged.

    /usr/bin/python3 malformed.py http://127.0.0.1:PORT

Each case checks the HTTP status (exactly where SQS-SEMANTICS.md section 7 or
issue 21 names the error, else the 4xx class), that the error is in the
request's protocol (JSON `__type` + `x-amzn-query-error`, or Query XML
`<ErrorResponse>` with `<Code>`), that `x-amzn-RequestId` is there, and that
afterwards the queue holds exactly the messages it held before and no queue
appeared or vanished.
"""
import http.client
import json
import os
import re
import socket
import sys
import time
from urllib.parse import quote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pycommon import Failure, endpoint, run, step  # noqa: E402

EP = endpoint()
HOST, PORT = urlsplit(EP).hostname, urlsplit(EP).port
URL = EP + "/000000000000/mal-q"
JSON_CT = "application/x-amz-json-1.0"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"


class Resp(object):
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, dict(self.headers), self.body[:400])


def http_req(body, headers, method="POST", path="/"):
    c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    h = {"Host": "%s:%d" % (HOST, PORT)}
    h.update(headers)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def json_req(target, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return http_req(body, {"Content-Type": JSON_CT, "X-Amz-Target": target})


def form_req(body):
    if isinstance(body, str):
        body = body.encode("latin-1")
    return http_req(body, {"Content-Type": FORM_CT})


def ok_json(target, obj):
    r = json_req("AmazonSQS." + target, json.dumps(obj))
    if r.status != 200:
        raise Failure("%s failed: %r" % (target, r))
    return json.loads(r.body or b"{}")


def state():
    """What must not change: the message counters of mal-q and the queue list."""
    a = ok_json("GetQueueAttributes", {"QueueUrl": URL, "AttributeNames": ["All"]})["Attributes"]
    counts = tuple(a[k] for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                  "ApproximateNumberOfMessagesDelayed"))
    queues = sorted(ok_json("ListQueues", {}).get("QueueUrls", []))
    return counts, queues


def check_json_error(what, r, status=None, types=None, query_code=None):
    if status is not None and r.status != status:
        raise Failure("%s: expected HTTP %d, got %r" % (what, status, r))
    if not 400 <= r.status < 500:
        raise Failure("%s: expected a 4xx, got %r" % (what, r))
    if "x-amzn-requestid" not in r.headers:
        raise Failure("%s: no x-amzn-RequestId header: %r" % (what, r))
    try:
        doc = json.loads(r.body)
    except ValueError:
        raise Failure("%s: the error body is not JSON: %r" % (what, r))
    t = str(doc.get("__type", "")).split("#")[-1]
    if not t:
        raise Failure("%s: no __type in %r" % (what, r))
    if types and not any(re.fullmatch(x, t) for x in types):
        raise Failure("%s: __type %r, expected one of %r (%r)" % (what, t, types, r))
    if query_code and not r.headers.get("x-amzn-query-error", "").startswith(query_code + ";"):
        raise Failure("%s: x-amzn-query-error %r, expected %s;Sender" % (
            what, r.headers.get("x-amzn-query-error"), query_code))
    return t


def check_query_error(what, r, status=None, codes=None):
    if status is not None and r.status != status:
        raise Failure("%s: expected HTTP %d, got %r" % (what, status, r))
    if not 400 <= r.status < 500:
        raise Failure("%s: expected a 4xx, got %r" % (what, r))
    text = r.text()
    m = re.search(r"<ErrorResponse[^>]*>.*<Code>([^<]+)</Code>.*<RequestId>[^<]+</RequestId>", text, re.S)
    if not m:
        raise Failure("%s: not a Query ErrorResponse with Code and RequestId: %r" % (what, r))
    if codes and m.group(1) not in codes:
        raise Failure("%s: <Code> %r, expected one of %r" % (what, m.group(1), codes))
    return m.group(1)


def form(**kw):
    return "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in kw.items())


def main():
    with step("set up mal-q with two messages"):
        ok_json("CreateQueue", {"QueueName": "mal-q"})
        ok_json("SendMessage", {"QueueUrl": URL, "MessageBody": "one"})
        ok_json("SendMessage", {"QueueUrl": URL, "MessageBody": "two", "DelaySeconds": 600})
        before = state()
        if before[0] != ("1", "0", "1"):
            raise Failure("unexpected starting counters %r" % (before[0],))

    cases = []

    def case(name):
        def deco(fn):
            cases.append((name, fn))
            return fn
        return deco

    send_prefix = '{"QueueUrl":"%s","MessageBody":"' % URL

    @case("JSON: truncated body")
    def _():
        r = json_req("AmazonSQS.SendMessage", send_prefix + 'half"')
        check_json_error("truncated JSON", r, 400, [r".*Serialization.*"])
        r = json_req("AmazonSQS.SendMessage", "")
        check_json_error("empty JSON body for SendMessage", r, 400)

    @case("JSON: body is not an object")
    def _():
        for b in ('[1,2,3]', '"text"', 'null', '{"QueueUrl":1}x'):
            check_json_error("JSON body %s" % b, json_req("AmazonSQS.SendMessage", b), 400)

    @case("JSON: wrong member types")
    def _():
        for body in ({"QueueUrl": URL, "MaxNumberOfMessages": "x"},
                     {"QueueUrl": URL, "MaxNumberOfMessages": 1.5},
                     {"QueueUrl": URL, "AttributeNames": "All"},
                     {"QueueUrl": 42},
                     {"QueueUrl": URL, "MessageAttributeNames": [1, 2]}):
            check_json_error("ReceiveMessage %r" % body, json_req("AmazonSQS.ReceiveMessage", json.dumps(body)), 400)
        check_json_error("SendMessage with a numeric body",
                         json_req("AmazonSQS.SendMessage", json.dumps({"QueueUrl": URL, "MessageBody": 12})), 400)
        check_json_error("SendMessage with a non-base64 BinaryValue", json_req("AmazonSQS.SendMessage", json.dumps(
            {"QueueUrl": URL, "MessageBody": "x",
             "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "***not base64***"}}})), 400)

    @case("JSON: huge numbers")
    def _():
        for n in ("99999999999999999999999999", "1e400", "-99999999999999999999"):
            r = json_req("AmazonSQS.ReceiveMessage", '{"QueueUrl":"%s","MaxNumberOfMessages":%s}' % (URL, n))
            check_json_error("MaxNumberOfMessages %s" % n, r, 400)
            r = json_req("AmazonSQS.SendMessage", send_prefix + 'x","DelaySeconds":%s}' % n)
            check_json_error("DelaySeconds %s" % n, r, 400)

    @case("JSON: missing required member")
    def _():
        r = json_req("AmazonSQS.SendMessage", json.dumps({"QueueUrl": URL}))
        check_json_error("SendMessage without MessageBody", r, 400, query_code="MissingParameter")
        r = json_req("AmazonSQS.SendMessage", json.dumps({"MessageBody": "x"}))
        check_json_error("SendMessage without QueueUrl", r, 400)

    @case("JSON: unknown X-Amz-Target action")
    def _():
        r = json_req("AmazonSQS.Frobnicate", "{}")
        check_json_error("AmazonSQS.Frobnicate", r, 400, ["UnknownOperationException"])
        r = json_req("SomethingElse.SendMessage", "{}")
        check_json_error("a foreign target prefix", r)

    @case("JSON: invalid UTF-8 in MessageBody")
    def _():
        r = json_req("AmazonSQS.SendMessage", send_prefix.encode() + b'bad \xff\xfe byte"}')
        check_json_error("invalid UTF-8", r, 400)
        r = json_req("AmazonSQS.SendMessage", send_prefix.encode() + b'overlong \xc0\xaf"}')
        check_json_error("overlong UTF-8", r, 400)
        r = json_req("AmazonSQS.SendMessage", (send_prefix + 'lone \\ud800 surrogate"}').encode())
        check_json_error("a lone surrogate escape", r, 400)

    @case("Query: unknown and missing Action")
    def _():
        check_query_error("Action=Frobnicate", form_req(form(Action="Frobnicate", Version="2012-11-05")), 400,
                          ["InvalidAction"])
        check_query_error("no Action", form_req(form(QueueUrl=URL, MessageBody="x")), 400,
                          ["MissingAction", "InvalidAction"])

    @case("Query: bad percent-encoding")
    def _():
        r = form_req("Action=SendMessage&Version=2012-11-05&QueueUrl=%s&MessageBody=%%zz" % quote(URL, safe=""))
        check_query_error("MessageBody=%zz", r, None, ["MalformedQueryString"])
        r = form_req("Action=SendMessage&Version=2012-11-05&QueueUrl=%s&MessageBody=abc%%4" % quote(URL, safe=""))
        check_query_error("a truncated %4 escape", r, None, ["MalformedQueryString"])

    @case("Query: duplicate form keys")
    def _():
        r = form_req(form(Action="SendMessage", Version="2012-11-05", QueueUrl=URL, MessageBody="a")
                     + "&MessageBody=b")
        check_query_error("MessageBody twice", r)
        r = form_req(form(Action="SendMessage", Version="2012-11-05", QueueUrl=URL, MessageBody="a")
                     + "&Action=PurgeQueue")
        check_query_error("Action twice", r)

    @case("Query: invalid UTF-8 in MessageBody")
    def _():
        r = form_req("Action=SendMessage&Version=2012-11-05&QueueUrl=%s&MessageBody=bad%%FF%%FEbyte" % quote(URL, safe=""))
        check_query_error("MessageBody=%FF%FE", r)

    @case("Query: wrong types and huge numbers")
    def _():
        for v in ("x", "1.5", "99999999999999999999999", "-1"):
            r = form_req(form(Action="ReceiveMessage", Version="2012-11-05", QueueUrl=URL, MaxNumberOfMessages=v))
            check_query_error("MaxNumberOfMessages=%r" % v, r)

    @case("a message one byte over 1 MiB")
    def _():
        r = json_req("AmazonSQS.SendMessage", json.dumps({"QueueUrl": URL, "MessageBody": "x" * (1048576 + 1)}))
        check_json_error("a 1 MiB + 1 body", r, 400, query_code="InvalidParameterValue")

    @case("an oversized request: 413")
    def _():
        r = oversized(JSON_CT, "AmazonSQS.SendMessage", 12 << 20)
        if r is None or r.status != 413:
            raise Failure("a 12 MiB JSON request: expected HTTP 413, got %r" % (r,))
        r = oversized(FORM_CT, None, 12 << 20)
        if r is None or r.status != 413:
            raise Failure("a 12 MiB Query request: expected HTTP 413, got %r" % (r,))

    for name, fn in cases:
        with step(name):
            fn()
            after = state()
            if after != before:
                raise Failure("%s changed the home: before %r, after %r" % (name, before, after))

    with step("the daemon still serves, and the good messages are intact"):
        got = ok_json("ReceiveMessage", {"QueueUrl": URL, "MaxNumberOfMessages": 10})
        bodies = [m["Body"] for m in got.get("Messages", [])]
        if bodies != ["one"]:
            raise Failure("expected ['one'], got %r" % bodies)


def oversized(ctype, target, size):
    """Announce size bytes and send them; the server may answer early and close."""
    s = socket.create_connection((HOST, PORT), timeout=30)
    head = "POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (HOST, PORT, ctype, size)
    if target:
        head += "X-Amz-Target: %s\r\n" % target
    s.sendall((head + "\r\n").encode())
    prefix = (send_body_prefix(ctype)).encode()
    chunk = b"x" * 65536
    sent = 0
    t0 = time.time()
    try:
        s.sendall(prefix)
        sent = len(prefix)
        while sent < size and time.time() - t0 < 20:
            n = min(len(chunk), size - sent)
            s.sendall(chunk[:n])
            sent += n
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server refused the rest: fine, read its answer
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            if b"\r\n\r\n" in data:
                head_end = data.index(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", data[:head_end], re.I)
                if m and len(data) >= head_end + 4 + int(m.group(1)):
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    if not m:
        return None
    hdr_end = data.find(b"\r\n\r\n")
    return Resp(int(m.group(1)), {}, data[hdr_end + 4:] if hdr_end >= 0 else b"")


def send_body_prefix(ctype):
    if ctype == JSON_CT:
        return '{"QueueUrl":"%s","MessageBody":"' % URL
    return "Action=SendMessage&Version=2012-11-05&QueueUrl=%s&MessageBody=" % quote(URL, safe="")


if __name__ == "__main__":
    run("malformed", main)
