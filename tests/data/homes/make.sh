#!/bin/bash
# make.sh BIN HOME [limits]: a small home with standard+FIFO queues,
# messages in flight, attributes, tags and a message redriven to its DLQ;
# with "limits" (format 5 on), also a queue "edge" with
# LmqMaximumMessages 2 and drop-oldest that dropped 2 of its 4 messages.
set -e
BIN=$1; H=$2
L="$BIN --home $H --durability full --map-mode pwrite"
$L create-queue --queue-name dlq >/dev/null
$L create-queue --queue-name src --attributes '{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dlq\",\"maxReceiveCount\":\"2\"}","MessageRetentionPeriod":"1209600","DelaySeconds":"0"}' --tags env=test,team=queues >/dev/null
$L create-queue --queue-name jobs.fifo --attributes '{"FifoQueue":"true","ContentBasedDeduplication":"true","MessageRetentionPeriod":"1209600"}' >/dev/null
$L send-message --queue-url src --message-body poison >/dev/null
for i in 1 2 3; do $L receive-message --queue-url src --visibility-timeout 0 >/dev/null; done
$L send-message --queue-url src --message-body s1 --message-attributes '{"color":{"DataType":"String","StringValue":"red"},"n":{"DataType":"Number","StringValue":"42"}}' >/dev/null
$L send-message-batch --queue-url src --entries '[{"Id":"a","MessageBody":"s2"},{"Id":"b","MessageBody":"s3"}]' >/dev/null
$L receive-message --queue-url src --visibility-timeout 43200 >/dev/null
$L send-message --queue-url jobs.fifo --message-body f1 --message-group-id g1 >/dev/null
$L send-message --queue-url jobs.fifo --message-body f2 --message-group-id g1 >/dev/null
$L send-message --queue-url jobs.fifo --message-body f3 --message-group-id g2 >/dev/null
$L receive-message --queue-url jobs.fifo --visibility-timeout 43200 >/dev/null
if [ "$3" = limits ]; then
  $L create-queue --queue-name edge --attributes '{"LmqMaximumMessages":"2","LmqOverLimitPolicy":"drop-oldest"}' >/dev/null
  for b in e1 e2 e3 e4; do $L send-message --queue-url edge --message-body $b >/dev/null; done
fi
$L get-queue-attributes --queue-url src --attribute-names All
$L get-queue-attributes --queue-url dlq --attribute-names ApproximateNumberOfMessages
