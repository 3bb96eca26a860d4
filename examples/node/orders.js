'use strict';
/*
 * An order pipeline on lmqd, written as for Amazon SQS: nothing but the
 * endpoint says it is local.
 *
 *   lmqd --ephemeral --listen 127.0.0.1:9324 &
 *   npm install @aws-sdk/client-sqs sqs-consumer      # or NODE_PATH=tests/clients/node_modules
 *   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test node examples/node/orders.js http://127.0.0.1:9324
 *
 * A producer sends orders; an sqs-consumer worker ships them; an order
 * that cannot be shipped is retried and, after 2 receives, lands in the
 * dead-letter queue. Exits 0 when every good order was shipped once and the
 * bad one is in the DLQ.
 */
const {
  SQSClient, CreateQueueCommand, SendMessageBatchCommand, GetQueueAttributesCommand,
} = require('@aws-sdk/client-sqs');
const { Consumer } = require('sqs-consumer');

const endpoint = process.argv[2] || process.env.LMQ_ENDPOINT || 'http://127.0.0.1:9324';
const sqs = new SQSClient({ endpoint, region: 'us-east-1' });

async function main() {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'orders-dlq' }));
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'],
  }))).Attributes.QueueArn;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({
    QueueName: 'orders',
    Attributes: {
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    },
  }));

  const orders = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((id) => ({ id, item: id === 7 ? 'unobtainium' : 'book' }));
  await sqs.send(new SendMessageBatchCommand({
    QueueUrl,
    Entries: orders.map((o) => ({ Id: `o${o.id}`, MessageBody: JSON.stringify(o) })),
  }));

  const shipped = new Map();
  const worker = Consumer.create({
    queueUrl: QueueUrl,
    sqs,
    waitTimeSeconds: 1,
    handleMessage: async (message) => {
      const order = JSON.parse(message.Body);
      if (order.item === 'unobtainium') throw new Error(`order ${order.id}: out of stock`);
      shipped.set(order.id, (shipped.get(order.id) || 0) + 1);
      console.log(`shipped order ${order.id}`);
      return message; /* acknowledged: sqs-consumer deletes it */
    },
  });
  worker.on('processing_error', (err) => console.log(`retry later: ${err.message}`));
  worker.start();

  const deadline = Date.now() + 20000;
  let inDlq = 0;
  while (Date.now() < deadline) {
    const a = await sqs.send(new GetQueueAttributesCommand({
      QueueUrl: dlq.QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'],
    }));
    inDlq = Number(a.Attributes.ApproximateNumberOfMessages);
    if (inDlq === 1 && shipped.size === 8) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  worker.stop({ abort: true });
  const once = [...shipped.values()].every((n) => n === 1);
  console.log(`${shipped.size} orders shipped${once ? ' once each' : ''}, ${inDlq} in the DLQ`);
  process.exit(shipped.size === 8 && once && inDlq === 1 ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
