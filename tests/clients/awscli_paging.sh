#!/bin/sh
# Pagination, byte for byte: Debian's awscli against lmqd and the `lmq` CLI
# on the same home must print the same output, errors and exit status for
# every paging flag (--max-items, --page-size, --starting-token,
# --no-paginate, and the service's --max-results/--next-token), and each
# one's NextToken must resume the other.
#
#   LMQ_BIN=... LMQ_HOME=... sh awscli_paging.sh http://127.0.0.1:PORT
#
# lmqd runs with --public-url http://127.0.0.1:9324, the lmq CLI's own URL
# base, so that both print the same queue URLs.
set -u

EP=${1:?usage: $0 http://127.0.0.1:PORT}
AWS=${LMQ_AWS_CLI:-/usr/bin/aws}
LMQ=${LMQ_BIN:?LMQ_BIN names the lmq CLI}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_PAGER=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmq-paging.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TAG=paging
. "$(dirname "$0")/lib/same.sh"

# token FILE: the NextToken of a JSON output.
token() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["NextToken"])' "$1"
}

"$LMQ" create-queue --queue-name pg-dlq >/dev/null || exit 1
for i in 1 2 3 4 5; do
	"$LMQ" create-queue --queue-name "pg-$i" >/dev/null || exit 1
done
for i in 1 2 3; do
	"$LMQ" set-queue-attributes --queue-url "pg-$i" --attributes \
		'{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:pg-dlq\",\"maxReceiveCount\":\"3\"}"}' || exit 1
done
DLQ=http://127.0.0.1:9324/000000000000/pg-dlq

same list-queues --queue-name-prefix pg- --max-items 2
same list-queues --queue-name-prefix pg- --page-size 2 --max-items 3 --output text
same list-queues --queue-name-prefix pg- --page-size 2 --max-items 4 --output table
same list-queues --queue-name-prefix pg- --page-size 2 --max-items 3 --output text --query 'QueueUrls[0]'
same list-queues --queue-name-prefix pg- --max-items 0
same list-queues --queue-name-prefix pg- --no-paginate --max-results 2
same list-queues --queue-name-prefix pg- --next-token cGctMg --max-items 1
same list-queues --queue-name-prefix zz --output text
same list-queues --starting-token 'None___2' --queue-name-prefix pg- --max-items 1
same list-dead-letter-source-queues --queue-url "$DLQ" --page-size 1 --max-items 2
same list-dead-letter-source-queues --queue-url "$DLQ" --no-paginate --max-items 2

# Each one's token resumes the other: a page cut short (boto_truncate_amount)
# and one ending on a page boundary.
"$LMQ" list-queues --queue-name-prefix pg- --page-size 2 --max-items 3 >"$WORK/t.json" || exit 1
same list-queues --queue-name-prefix pg- --page-size 2 --starting-token "$(token "$WORK/t.json")"
"$AWS" sqs --endpoint-url "$EP" list-queues --queue-name-prefix pg- --page-size 2 --max-items 2 >"$WORK/t.json" || exit 1
same list-queues --queue-name-prefix pg- --starting-token "$(token "$WORK/t.json")" --max-items 3

[ $fails -eq 0 ] || { echo "paging: $fails case(s) differ" >&2; exit 1; }
echo "paging: awscli and lmq agree on $cases cases ($sampled read-only ones left to the plain pass: LMQ_TEST_SAN)"
