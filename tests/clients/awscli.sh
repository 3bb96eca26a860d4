#!/bin/sh
# Scenario 5: Debian's awscli 2.9 (/usr/bin/aws, Query protocol) against lmqd.
#
#   sh awscli.sh http://127.0.0.1:PORT
#
# Always /usr/bin/aws: the `aws` first on PATH may be a pip AWS CLI v1 that
# speaks JSON. Output is parsed with /usr/bin/python3 (no jq needed).
set -u

EP=${1:-${LMQ_ENDPOINT:-}}
[ -n "$EP" ] || { echo "usage: $0 http://127.0.0.1:PORT" >&2; exit 2; }
EP=${EP%/}
AWS=${LMQ_AWS_CLI:-/usr/bin/aws}
PY=/usr/bin/python3
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_PAGER=""

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmq-awscli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STEP="(start)"

fail() {
	echo "awscli: FAIL at step \"$STEP\": $*" >&2
	[ -s "$WORK/err" ] && { echo "--- stderr of the last aws command:" >&2; tail -n 20 "$WORK/err" >&2; }
	[ -s "$WORK/out" ] && { echo "--- stdout of the last aws command:" >&2; tail -n 20 "$WORK/out" >&2; }
	exit 1
}

# sqs ARGS...: run `aws sqs ARGS --endpoint-url EP --output json`; must succeed.
sqs() {
	"$AWS" sqs "$@" --endpoint-url "$EP" --output json >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc -eq 0 ] || fail "aws sqs $1 exited $rc"
}

# q EXPR: evaluate a Python expression over the last output (bound to d).
q() {
	"$PY" -c 'import json,sys
raw = open(sys.argv[1]).read()
d = json.loads(raw) if raw.strip() else {}
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$WORK/out" "$1" || fail "cannot evaluate $1"
}

expect() { # expect EXPR WANT
	got=$(q "$1")
	[ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"
}

URL="$EP/000000000000/cli-main"

STEP="create-queue"
sqs create-queue --queue-name cli-main --attributes VisibilityTimeout=30,DelaySeconds=0 --tags team=cli
expect 'd["QueueUrl"]' "$URL"
sqs create-queue --queue-name cli-other
sqs create-queue --queue-name cli-main --attributes VisibilityTimeout=30
expect 'd["QueueUrl"]' "$URL"

STEP="list-queues"
sqs list-queues --queue-name-prefix cli-
expect 'sorted(d["QueueUrls"])' "[\"$URL\", \"$EP/000000000000/cli-other\"]"

STEP="get-queue-url"
sqs get-queue-url --queue-name cli-main
expect 'd["QueueUrl"]' "$URL"

STEP="get-queue-attributes"
sqs get-queue-attributes --queue-url "$URL" --attribute-names All
expect 'd["Attributes"]["VisibilityTimeout"]' "30"
expect 'd["Attributes"]["QueueArn"]' "arn:aws:sqs:us-east-1:000000000000:cli-main"
expect 'd["Attributes"]["ApproximateNumberOfMessages"]' "0"

STEP="set-queue-attributes"
sqs set-queue-attributes --queue-url "$URL" --attributes VisibilityTimeout=45,MessageRetentionPeriod=3600
sqs get-queue-attributes --queue-url "$URL" --attribute-names VisibilityTimeout MessageRetentionPeriod
expect 'd["Attributes"]' '{"MessageRetentionPeriod": "3600", "VisibilityTimeout": "45"}'

STEP="tag-queue / list-queue-tags"
sqs tag-queue --queue-url "$URL" --tags env=ci,owner=lmq
sqs list-queue-tags --queue-url "$URL"
expect 'd["Tags"]' '{"env": "ci", "owner": "lmq", "team": "cli"}'
sqs untag-queue --queue-url "$URL" --tag-keys env
sqs list-queue-tags --queue-url "$URL"
expect 'd["Tags"]' '{"owner": "lmq", "team": "cli"}'

STEP="send-message with --message-attributes"
BODY='hello <&> ]]> "q" caf'$(printf '\303\251')' '$(printf '\360\237\230\200')
sqs send-message --queue-url "$URL" --message-body "$BODY" \
	--message-attributes '{"Color":{"DataType":"String","StringValue":"blue"},"Size":{"DataType":"Number","StringValue":"3"},"Bin":{"DataType":"Binary","BinaryValue":"AQID"}}'
expect 'd["MD5OfMessageBody"]' "$(printf '%s' "$BODY" | md5sum | cut -d' ' -f1)"
# Color/String/blue, Size/Number/3, Bin/Binary/01 02 03 (SQS-SEMANTICS.md 3.4, CLI v2 treats blobs as base64)
WANT_MD5=$("$PY" -c 'import hashlib,struct
def p(b): return struct.pack(">I",len(b))+b
buf=b""
for n,t,tt,v in sorted([("Bin","Binary",2,bytes([1,2,3])),("Color","String",1,b"blue"),("Size","Number",1,b"3")]):
    buf+=p(n.encode())+p(t.encode())+bytes([tt])+p(v)
print(hashlib.md5(buf).hexdigest())')
expect 'd["MD5OfMessageAttributes"]' "$WANT_MD5"
MID=$(q 'd["MessageId"]')

STEP="receive-message --attribute-names All"
sqs receive-message --queue-url "$URL" --attribute-names All --message-attribute-names All --max-number-of-messages 10
expect 'len(d["Messages"])' "1"
expect 'd["Messages"][0]["MessageId"]' "$MID"
expect 'd["Messages"][0]["Body"]' "$BODY"
expect 'd["Messages"][0]["MD5OfMessageAttributes"]' "$WANT_MD5"
expect 'd["Messages"][0]["MessageAttributes"]["Color"]' '{"DataType": "String", "StringValue": "blue"}'
expect 'd["Messages"][0]["MessageAttributes"]["Bin"]' '{"BinaryValue": "AQID", "DataType": "Binary"}'
expect 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]' "1"
expect 'sorted(d["Messages"][0]["Attributes"])' '["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"]'
RH=$(q 'd["Messages"][0]["ReceiptHandle"]')

STEP="delete-message"
sqs delete-message --queue-url "$URL" --receipt-handle "$RH"
sqs get-queue-attributes --queue-url "$URL" --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible
expect 'd["Attributes"]' '{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}'

STEP="send-message-batch"
sqs send-message-batch --queue-url "$URL" --entries \
	'[{"Id":"one","MessageBody":"first"},{"Id":"two","MessageBody":"second","DelaySeconds":0},{"Id":"bad","MessageBody":"x","DelaySeconds":901}]'
expect 'sorted(e["Id"] for e in d["Successful"])' '["one", "two"]'
expect '[(e["Id"], e["Code"], e["SenderFault"]) for e in d["Failed"]]' '[["bad", "InvalidParameterValue", true]]'
sqs receive-message --queue-url "$URL" --max-number-of-messages 10
expect 'sorted(m["Body"] for m in d["Messages"])' '["first", "second"]'
ENTRIES=$(q '[{"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(d["Messages"])]')
sqs delete-message-batch --queue-url "$URL" --entries "$ENTRIES"
expect 'len(d["Successful"])' "2"
sqs receive-message --queue-url "$URL"
expect '"Messages" in d' "false"

STEP="error: receive from a missing queue"
"$AWS" sqs receive-message --queue-url "$EP/000000000000/cli-missing" --endpoint-url "$EP" >"$WORK/out" 2>"$WORK/err"
rc=$?
[ $rc -eq 254 ] || [ $rc -eq 255 ] || fail "exit code $rc, expected 254 or 255"
grep -q 'AWS.SimpleQueueService.NonExistentQueue' "$WORK/err" || fail "stderr does not name AWS.SimpleQueueService.NonExistentQueue"

STEP="error: get-queue-url of a missing queue"
"$AWS" sqs get-queue-url --queue-name cli-missing --endpoint-url "$EP" >"$WORK/out" 2>"$WORK/err"
rc=$?
[ $rc -eq 254 ] || [ $rc -eq 255 ] || fail "exit code $rc, expected 254 or 255"
grep -q 'AWS.SimpleQueueService.NonExistentQueue' "$WORK/err" || fail "stderr does not name AWS.SimpleQueueService.NonExistentQueue"

STEP="delete-queue"
sqs delete-queue --queue-url "$URL"
sqs list-queues --queue-name-prefix cli-
expect 'd.get("QueueUrls")' "[\"$EP/000000000000/cli-other\"]"

echo "awscli: ok"
exit 0
