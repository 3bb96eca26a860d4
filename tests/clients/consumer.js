'use strict';
/*
 * Scenario 3: the sqs-consumer tutorial, unchanged but for the endpoint.
 *
 * A small HTTP "purchase" service (node:http on 127.0.0.1, port chosen by
 * the OS) sends one message per purchase to `mileage` and one to
 * `productTracking`. Two sqs-consumer Consumers poll each queue.
 *  - happy path: every purchase is processed exactly once by each queue;
 *  - a mileage handler that throws once gets its message redelivered
 *    (queue VisibilityTimeout 1 s) and then processed once;
 *  - a poison purchase (its mileage handler always throws) is delivered
 *    maxReceiveCount=2 times and then lands in `mileage-dlq`.
 * The mileage consumers use handleMessage (DeleteMessage per message); the
 * productTracking ones use handleMessageBatch (DeleteMessageBatch with the
 * MessageIds as entry ids) with visibilityTimeout 2 s and a 1 s heartbeat
 * (ChangeMessageVisibilityBatch), which keeps a batch holding a slow (2.5 s)
 * purchase from being redelivered.
 *
 *   node consumer.js http://127.0.0.1:PORT
 */
const http = require('node:http');
const sqs = require('@aws-sdk/client-sqs');
const { Consumer } = require('sqs-consumer');
const { assert, endpoint, sleep, step, until, v3Client, run, log } = require('./lib/common');

const ep = endpoint();
const client = v3Client(ep);
const send = (Cmd, input) => client.send(new sqs[Cmd + 'Command'](input));
const arnOf = (name) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const N = 20;

async function counts(url) {
  const r = await send('GetQueueAttributes', {
    QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
  });
  return [Number(r.Attributes.ApproximateNumberOfMessages), Number(r.Attributes.ApproximateNumberOfMessagesNotVisible)];
}

/* The purchase service from the tutorial: POST /purchase {id, user, product, miles}. */
function purchaseServer(urls) {
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/purchase') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', async () => {
      try {
        const p = JSON.parse(body);
        const [m, t] = await Promise.all([
          send('SendMessage', {
            QueueUrl: urls.mileage,
            MessageBody: JSON.stringify({ purchaseId: p.id, user: p.user, miles: p.miles }),
            MessageAttributes: { kind: { DataType: 'String', StringValue: 'mileage' } },
          }),
          send('SendMessage', {
            QueueUrl: urls.productTracking,
            MessageBody: JSON.stringify({ purchaseId: p.id, product: p.product }),
          }),
        ]);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ mileage: m.MessageId, productTracking: t.MessageId }));
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function post(port, obj) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(obj);
    const req = http.request({
      host: '127.0.0.1', port, path: '/purchase', method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  const urls = {};
  await step('create the queues', async () => {
    for (const q of ['mileage-dlq', 'productTracking-dlq']) {
      urls[q] = (await send('CreateQueue', { QueueName: q })).QueueUrl;
    }
    for (const q of ['mileage', 'productTracking']) {
      urls[q] = (await send('CreateQueue', {
        QueueName: q,
        Attributes: {
          VisibilityTimeout: '1',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arnOf(`${q}-dlq`), maxReceiveCount: 2 }),
        },
      })).QueueUrl;
    }
  });

  // What the handlers saw: successes per purchase id, failures per id.
  const done = { mileage: new Map(), productTracking: new Map() };
  const failures = new Map();
  const byConsumer = {};
  const sqsErrors = [];
  const flakyThrown = new Set();

  const consumers = [];
  for (const queue of ['mileage', 'productTracking']) {
    for (const k of [1, 2]) {
      const name = `${queue}#${k}`;
      byConsumer[name] = 0;
      const record = (msg) => {
        byConsumer[name]++;
        const p = JSON.parse(msg.Body);
        const m = done[queue];
        m.set(p.purchaseId, (m.get(p.purchaseId) || 0) + 1);
      };
      const common = { queueUrl: urls[queue], sqs: client, batchSize: 5, waitTimeSeconds: 1 };
      const c = queue === 'mileage' ? Consumer.create({
        ...common,
        messageAttributeNames: ['All'],
        attributeNames: ['ApproximateReceiveCount'],
        handleMessage: async (msg) => {
          const p = JSON.parse(msg.Body);
          assert.equal(msg.MessageAttributes.kind.StringValue, 'mileage');
          if (p.purchaseId === 'poison') {
            failures.set(p.purchaseId, (failures.get(p.purchaseId) || 0) + 1);
            throw new Error('poison purchase');
          }
          if (p.purchaseId === 'flaky' && !flakyThrown.has(msg.MessageId)) {
            flakyThrown.add(msg.MessageId);
            failures.set(p.purchaseId, (failures.get(p.purchaseId) || 0) + 1);
            throw new Error('transient failure');
          }
          record(msg);
          return msg; // acknowledge: sqs-consumer deletes it
        },
      }) : Consumer.create({
        ...common,
        batchSize: 10,
        visibilityTimeout: 2,
        heartbeatInterval: 1,
        handleMessageBatch: async (msgs) => {
          if (msgs.some((m) => JSON.parse(m.Body).purchaseId === 'slow')) await sleep(2500);
          msgs.forEach(record);
          return msgs; // acknowledge all: DeleteMessageBatch
        },
      });
      c.on('error', (e) => { sqsErrors.push(`${name}: ${e.name} ${e.message}`); });
      c.on('processing_error', (e) => log(`${name}: processing_error ${e.message}`));
      consumers.push(c);
    }
  }

  const server = await purchaseServer(urls);
  const port = server.address().port;
  try {
    await step('start four consumers and post the purchases', async () => {
      for (const c of consumers) c.start();
      const ids = [...Array.from({ length: N }, (_, i) => `p${i}`), 'flaky', 'poison', 'slow'];
      const results = await Promise.all(ids.map((id, i) =>
        post(port, { id, user: `u${i % 3}`, product: `sku-${i}`, miles: 100 + i })));
      for (const r of results) assert.equal(r.status, 201, `purchase POST: ${r.status} ${r.body}`);
    });

    await step('wait for every purchase to be processed and the poison one to reach the DLQ', async () => {
      await until('all processing', async () => {
        const [dlqVisible] = await counts(urls['mileage-dlq']);
        return done.mileage.size === N + 2 && done.productTracking.size === N + 3 && dlqVisible === 1;
      }, 30000, 200);
      // Leave time for a wrong redelivery (past the 1 s visibility timeout).
      await sleep(2500);
    });

    await step('exactly once on the happy path, redelivery after a throw, poison in the DLQ', async () => {
      assert.deepEqual(sqsErrors, [], 'no SQS call failed');
      for (const [q, m] of Object.entries(done)) {
        for (const [id, n] of m) assert.equal(n, 1, `${q}: purchase ${id} processed ${n} times`);
      }
      assert.ok(!done.mileage.has('poison'), 'the poison purchase never succeeded');
      assert.equal(done.mileage.get('flaky'), 1, 'the flaky purchase succeeded once after its redelivery');
      assert.equal(failures.get('flaky'), 1);
      assert.equal(failures.get('poison'), 2, 'the poison message was delivered maxReceiveCount (2) times');
      assert.equal(done.productTracking.get('slow'), 1, 'the heartbeat kept the slow batch from redelivery');
      for (const q of ['mileage', 'productTracking', 'productTracking-dlq']) {
        assert.deepEqual(await counts(urls[q]), [0, 0], `${q} is empty`);
      }
      const r = await send('ReceiveMessage', {
        QueueUrl: urls['mileage-dlq'], AttributeNames: ['All'], MessageAttributeNames: ['All'],
      });
      assert.equal(r.Messages.length, 1);
      const m = r.Messages[0];
      assert.equal(JSON.parse(m.Body).purchaseId, 'poison');
      assert.equal(m.Attributes.DeadLetterQueueSourceArn, arnOf('mileage'));
      assert.equal(m.Attributes.ApproximateReceiveCount, '3');
      assert.equal(m.MessageAttributes.kind.StringValue, 'mileage', 'attributes kept on the move');
      log('per consumer:', JSON.stringify(byConsumer));
      const busy = Object.values(byConsumer).filter((n) => n > 0).length;
      assert.ok(busy >= 2, `the consumers shared the work: ${JSON.stringify(byConsumer)}`);
    });
  } finally {
    for (const c of consumers) c.stop();
    server.close();
    await until('the consumers to stop', async () => consumers.every((c) => !c.status.isRunning && !c.status.isPolling), 5000, 50)
      .catch(() => {});
  }
}

run('consumer', main);
