#!/bin/sh
# The rest of the AWS CLI's surface, byte for byte (issue 23): Debian's
# awscli against lmqd and the `lmq` CLI on the same home must print the
# same bytes on stdout and stderr and exit with the same status for
# --output yaml and yaml-stream, --generate-cli-skeleton (input, yaml-input,
# output) of every sqs command, --cli-input-json / --cli-input-yaml (file://
# and literal, merged with flags, refused as botocore refuses them),
# AWS_DEFAULT_OUTPUT, --cli-binary-format, --color and the pager options.
# A skeleton printed by lmq, filled in, feeds both CLIs. lmq's YAML of
# awkward strings is also checked against the AWS CLI's own YAML formatter
# (awscli.formatter.YAMLDumper) on the same document.
#
#   LMQ_BIN=... LMQ_HOME=... sh awscli_io.sh http://127.0.0.1:PORT
#
# lmqd runs with --public-url http://127.0.0.1:9324, the lmq CLI's own URL
# base, so that both print the same queue URLs.
set -u

EP=${1:?usage: $0 http://127.0.0.1:PORT}
AWS=${LMQ_AWS_CLI:-/usr/bin/aws}
PY=/usr/bin/python3
LMQ=${LMQ_BIN:?LMQ_BIN names the lmq CLI}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_PAGER=""
unset AWS_DEFAULT_OUTPUT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmq-io.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TAG=io
. "$(dirname "$0")/lib/same.sh"

Q=http://127.0.0.1:9324/000000000000
"$LMQ" create-queue --queue-name io-a --tags 'a=true,b=12,c=hello world,d=null,e=x: y,f=' >/dev/null || exit 1
"$LMQ" create-queue --queue-name io-b >/dev/null || exit 1
"$LMQ" create-queue --queue-name io-peek >/dev/null || exit 1

# --output yaml and yaml-stream, plain and paginated, with --query.
same list-queues --queue-name-prefix io- --output yaml
same list-queues --queue-name-prefix io- --output yaml-stream
same list-queues --queue-name-prefix io- --output yaml-stream --page-size 1 --max-items 3
same list-queues --queue-name-prefix io- --output yaml-stream --page-size 2 --query 'QueueUrls[0]'
same list-queues --queue-name-prefix zz --output yaml-stream
same list-queues --queue-name-prefix io- --output yaml --page-size 1 --max-items 2
same get-queue-attributes --queue-url "$Q/io-a" --attribute-names All --output yaml
same list-queue-tags --queue-url io-a --output yaml
same list-queue-tags --queue-url io-a --output yaml-stream
same get-queue-url --queue-name io-a --output yaml --query QueueUrl
same get-queue-url --queue-name io-a --output yaml --query '[QueueUrl, `12`, `true`]'

# Awkward bodies, one queue and message each (receipt handles differ: left
# out).
n=0
for b in 'yes' '0x1f' '2024-01-01' 'null' '~' ' lead' 'a #b' 'x: y' '- d' \
	"$(printf 'two\nlines\n')" "$(printf 'tab\there')" 'é€ 日本' \
	"$(printf 'w %.0s' $(seq 1 40))"; do
	n=$((n + 1))
	"$LMQ" create-queue --queue-name "io-m$n" >/dev/null || exit 1
	"$LMQ" send-message --queue-url "io-m$n" --message-body "$b" \
		--message-attributes '{"n":{"DataType":"Number","StringValue":"1.50"},"bin":{"DataType":"Binary","BinaryValue":"AAEC"}}' >/dev/null || exit 1
	same receive-message --queue-url "io-m$n" --visibility-timeout 0 \
		--message-attribute-names All --output yaml \
		--query 'Messages[0].[Body, MD5OfBody, MessageAttributes]'
done

# lmq's YAML against awscli's YAMLDumper on one document of awkward values.
i=0
for b in 'true' 'False' '12' '-3' '1_000' '0o17' '1.5' '1e5' '.inf' '.NaN' \
	'2001-12-14t21:59:43.10-05:00' '=' '<<' '!x' '&y' '*z' '|p' '>g' '%p' \
	'@a' '`b' "it's" '"dq"' 'trailing ' '#c' '?q' ':c' 'a\b' \
	"$(printf 'crlf\r\nx')" "$(printf 'x%.0s' $(seq 1 200))" 'ünïcödé' ''; do
	i=$((i + 1))
	[ -z "$b" ] && continue
	"$LMQ" send-message --queue-url io-peek --message-body "$b" \
		--message-attributes "{\"k$i\":{\"DataType\":\"String\",\"StringValue\":\"$i\"}}" >/dev/null || exit 1
done
"$LMQ" peek --queue-url io-peek --output json >"$WORK/peek.json" || exit 1
"$LMQ" peek --queue-url io-peek --output yaml >"$WORK/peek.yaml" || exit 1
"$PY" -c 'import io, json, sys
from awscli.formatter import YAMLDumper
s = io.StringIO()
YAMLDumper().dump(json.load(open(sys.argv[1])), s)
sys.stdout.write(s.getvalue())' "$WORK/peek.json" >"$WORK/peek.exp" || exit 1
cases=$((cases + 1))
if ! cmp -s "$WORK/peek.exp" "$WORK/peek.yaml"; then
	echo "io: FAIL: peek --output yaml differs from awscli's YAMLDumper" >&2
	diff "$WORK/peek.exp" "$WORK/peek.yaml" >&2
	fails=$((fails + 1))
fi

# Skeletons of every sqs command lmq has: the input ones from awscli's own
# generators in one Python process (one aws run each would take minutes),
# two of them through /usr/bin/aws as well.
same send-message-batch --generate-cli-skeleton
same receive-message --generate-cli-skeleton yaml-input
CMDS="create-queue delete-queue get-queue-url list-queues
	get-queue-attributes set-queue-attributes send-message
	send-message-batch receive-message delete-message
	delete-message-batch change-message-visibility
	change-message-visibility-batch purge-queue tag-queue untag-queue
	list-queue-tags list-dead-letter-source-queues"
"$PY" -c 'import contextlib, io, sys
import xml.dom.minidom, xml.parsers.expat
from awscli.clidriver import create_clidriver
from awscli.customizations.generatecliskeleton import GenerateCliSkeletonArgument
session = create_clidriver().session  # the model aws itself loads
model = session.get_service_model("sqs")
for cmd in sys.argv[2:]:
    op = "".join(w.capitalize() for w in cmd.split("-"))
    arg = GenerateCliSkeletonArgument(session, model.operation_model(op))
    for kind in ("input", "yaml_input"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            getattr(arg, "_generate_%s_skeleton" % kind)()
        open("%s/%s.%s" % (sys.argv[1], cmd, kind), "w").write(out.getvalue())
' "$WORK" $CMDS || exit 1
for c in $CMDS; do
	for k in input yaml-input; do
		cases=$((cases + 1))
		"$LMQ" "$c" --generate-cli-skeleton "$k" >"$WORK/l.skel" 2>&1
		if ! cmp -s "$WORK/$c.$(echo $k | tr - _)" "$WORK/l.skel"; then
			echo "io: FAIL: $c --generate-cli-skeleton $k" >&2
			diff "$WORK/$c.$(echo $k | tr - _)" "$WORK/l.skel" >&2
			fails=$((fails + 1))
		fi
	done
done
same list-queues --generate-cli-skeleton output
same list-queues --generate-cli-skeleton output --output yaml
same get-queue-url --generate-cli-skeleton output --queue-name io-a
same create-queue --generate-cli-skeleton output --queue-name x --output text
same send-message --generate-cli-skeleton output --queue-url io-a --message-body x --output table
same send-message-batch --generate-cli-skeleton output --queue-url io-a --entries Id=1,MessageBody=b
same delete-message-batch --generate-cli-skeleton output --queue-url io-a --entries Id=1,ReceiptHandle=r
same list-queue-tags --generate-cli-skeleton output --queue-url io-a --query Tags
same delete-queue --generate-cli-skeleton output --queue-url io-a
same get-queue-url --generate-cli-skeleton input --queue-name io-a

# A skeleton printed by lmq, filled in, feeds both.
"$LMQ" send-message --generate-cli-skeleton >"$WORK/skel.json" || exit 1
"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["QueueUrl"] = "io-b"; d["MessageBody"] = "from a skeleton"
d["MessageAttributes"] = {"k": {"DataType": "String", "StringValue": "v"}}
for k in ("MessageSystemAttributes", "MessageDeduplicationId", "MessageGroupId"):
    del d[k]
json.dump(d, open(sys.argv[2], "w"))' "$WORK/skel.json" "$WORK/filled.json" || exit 1
same send-message --cli-input-json "file://$WORK/filled.json" --query '[MD5OfMessageBody, MD5OfMessageAttributes]'
"$LMQ" get-queue-url --generate-cli-skeleton yaml-input | sed "s/^QueueName: ''/QueueName: io-b/; /QueueOwner/d" >"$WORK/filled.yaml" || exit 1
same get-queue-url --cli-input-yaml "file://$WORK/filled.yaml"

# --cli-input-json / --cli-input-yaml: merging and refusals.
same get-queue-url --cli-input-json '{"QueueName":"io-a"}'
same get-queue-url --cli-input-json '{"QueueName":"nope"}' --queue-name io-a
same get-queue-url --cli-input-yaml 'QueueName: io-b'
same get-queue-url --cli-input-json '{"QueueName":1}'
same get-queue-url --cli-input-json '{"Bogus":1,"Other":2}'
same get-queue-url --cli-input-json '{}'
same get-queue-url --cli-input-json '[1]'
same get-queue-url --cli-input-json '{bad'
same get-queue-url --cli-input-yaml '{bad: [}'
same get-queue-url --cli-input-yaml ''
same get-queue-url --cli-input-yaml 'QueueName: {a: 1, b: [true, null, 1.5]}'
same get-queue-url --cli-input-yaml 'QueueName: io-a' --cli-input-json '{"QueueName":"io-a"}'
same send-message --cli-input-json '{"QueueUrl":1,"Bogus":1,"DelaySeconds":"x"}'
same send-message --queue-url io-b --message-body x --cli-input-json '{"Bogus":1,"DelaySeconds":"x"}'
same send-message --cli-input-yaml "$(printf 'QueueUrl: io-b\nMessageBody: 12\nMessageAttributes:\n  b:\n    DataType: Binary\n    BinaryValue: !!binary AAEC\n')" --query MD5OfMessageAttributes
same set-queue-attributes --cli-input-json '{"QueueUrl":"io-b","Attributes":{"VisibilityTimeout":"45"}}'
same get-queue-attributes --cli-input-json '{"QueueUrl":"io-b","AttributeNames":["VisibilityTimeout"]}'
same tag-queue --cli-input-json "{\"QueueUrl\":\"$Q/io-b\",\"Tags\":{\"k1\":\"v1\"}}"
same list-queue-tags --queue-url io-b
same send-message-batch --cli-input-json '{"QueueUrl":"io-b","Entries":[{"Id":"a","MessageBody":"x"},{"Id":"b","MessageBody":"y","DelaySeconds":1}]}' --query 'Successful[].Id'
same list-queues --cli-input-json '{"QueueNamePrefix":"io-"}' --max-items 1

# --cli-binary-format, AWS_DEFAULT_OUTPUT, --color, the pager.
same send-message --queue-url io-b --message-body x --cli-binary-format raw-in-base64-out \
	--message-attributes '{"b":{"DataType":"Binary","BinaryValue":"hello"}}' --query MD5OfMessageAttributes
same send-message --queue-url io-b --message-body x --cli-binary-format base64 \
	--message-attributes '{"b":{"DataType":"Binary","BinaryValue":"aGVsbG8="}}' --query MD5OfMessageAttributes
AWS_DEFAULT_OUTPUT=yaml same get-queue-url --queue-name io-a
AWS_DEFAULT_OUTPUT=text same list-queues --queue-name-prefix io-
AWS_DEFAULT_OUTPUT=table same list-queues --queue-name-prefix io- --output json
AWS_DEFAULT_OUTPUT=bogus same list-queues
same get-queue-attributes --queue-url io-a --attribute-names All --color on --output table
same list-queue-tags --queue-url io-a --color on --output table
same list-queues --queue-name-prefix io- --color on --output table --max-items 2
same list-queues --queue-name-prefix io- --color on
same get-queue-url --queue-name io-a --color off --output table
same get-queue-url --queue-name io-a --color auto --output table
same get-queue-url --queue-name io-a --no-cli-pager
AWS_PAGER=false same get-queue-url --queue-name io-a

[ $fails -eq 0 ] || { echo "io: $fails of $cases case(s) differ" >&2; exit 1; }
echo "io: awscli and lmq agree on $cases cases ($sampled read-only ones left to the plain pass: LMQ_TEST_SAN)"
