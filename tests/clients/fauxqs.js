'use strict';
/*
 * fauxqs (npm, pinned in package.json), a second SQS emulator, for the
 * bridge test (tests/check_clients.c, case bridge_fauxqs; issue 26):
 *
 *   node fauxqs.js serve PORT
 *       fauxqs on 127.0.0.1:PORT (fauxqs' own startFauxqs() always binds
 *       0.0.0.0, so this builds its app and listens on loopback only),
 *       without its request log; prints "fauxqs ready http://127.0.0.1:PORT"
 *       once it listens, stops on SIGTERM.
 *   node fauxqs.js create EP NAME
 *       CreateQueue; prints the QueueUrl fauxqs returns (the first line). fauxqs finds a
 *       queue by that exact string (http://sqs.us-east-1.localhost:PORT/
 *       000000000000/NAME), not by its path as SQS does, so the bridge's
 *       remote_url must be this URL (its endpoint is EP).
 *   node fauxqs.js send EP QUEUE_URL N PREFIX
 *       SendMessageBatch of the bodies PREFIX0 .. PREFIX<N-1>.
 *   node fauxqs.js expect EP QUEUE_URL N PREFIX [ATTRIBUTE]
 *       Receives and deletes until it has N messages (at most 30 s): each
 *       body PREFIX0 .. PREFIX<N-1> exactly once, each with the String
 *       message attribute ATTRIBUTE when given; then the queue must be
 *       empty (nothing visible, in flight or delayed).
 *   node fauxqs.js empty EP QUEUE_URL [TIMEOUT_MS]
 *       Waits (default 20 s) until the queue holds nothing (visible, in
 *       flight or delayed).
 */
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const sqs = require('@aws-sdk/client-sqs');
const { assert, sleep, v3Client, run } = require('./lib/common');

const [cmd, ...args] = process.argv.slice(2);

async function serve(port) {
  const app = pathToFileURL(path.join(__dirname, 'node_modules', 'fauxqs', 'dist', 'app.js')).href;
  const { buildApp } = await import(app);
  const server = buildApp({ logger: false });
  await server.listen({ port: Number(port), host: '127.0.0.1' });
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`fauxqs ready http://127.0.0.1:${port}\n`);
}

const client = (ep) => v3Client(ep);
const call = (c, Cmd, input) => c.send(new sqs[Cmd + 'Command'](input));

async function counts(c, url) {
  const names = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed'];
  const r = await call(c, 'GetQueueAttributes', { QueueUrl: url, AttributeNames: names });
  return names.map((n) => Number(r.Attributes[n]));
}

async function main() {
  if (cmd === 'serve') return serve(args[0]);
  const [ep, a1, a2, a3, a4] = args;
  const c = client(ep);
  if (cmd === 'create') {
    const r = await call(c, 'CreateQueue', { QueueName: a1 });
    process.stdout.write(r.QueueUrl + '\n');
  } else if (cmd === 'send') {
    const n = Number(a2);
    for (let i = 0; i < n; i += 10) {
      const Entries = [];
      for (let j = i; j < Math.min(n, i + 10); j++) {
        Entries.push({ Id: `e${j}`, MessageBody: `${a3}${j}` });
      }
      const r = await call(c, 'SendMessageBatch', { QueueUrl: a1, Entries });
      assert.equal((r.Failed || []).length, 0, `SendMessageBatch failed: ${JSON.stringify(r.Failed)}`);
    }
  } else if (cmd === 'expect') {
    const n = Number(a2), prefix = a3, attr = a4;
    const seen = new Map();
    const deadline = Date.now() + 30000;
    while (seen.size < n) {
      assert.ok(Date.now() < deadline, `only ${seen.size} of ${n} messages within 30 s: ` +
        `missing ${[...Array(n).keys()].map((i) => prefix + i).filter((b) => !seen.has(b)).join(' ')}`);
      const r = await call(c, 'ReceiveMessage', {
        QueueUrl: a1, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'], VisibilityTimeout: 60,
      });
      for (const m of r.Messages || []) {
        const i = m.Body.startsWith(prefix) ? Number(m.Body.slice(prefix.length)) : NaN;
        assert.ok(Number.isInteger(i) && i >= 0 && i < n && m.Body === prefix + i,
          `unexpected body ${JSON.stringify(m.Body)}`);
        assert.ok(!seen.has(m.Body),
          `${m.Body} received twice (MessageIds ${seen.get(m.Body)}, ${m.MessageId})`);
        if (attr) {
          const a = (m.MessageAttributes || {})[attr];
          assert.ok(a && a.DataType === 'String' && a.StringValue,
            `${m.Body} has no String attribute ${attr}: ${JSON.stringify(m.MessageAttributes)}`);
        }
        seen.set(m.Body, m.MessageId);
        await call(c, 'DeleteMessage', { QueueUrl: a1, ReceiptHandle: m.ReceiptHandle });
      }
    }
    const left = await counts(c, a1);
    assert.deepEqual(left, [0, 0, 0], `queue not empty after ${n} messages (visible, in flight, delayed)`);
  } else if (cmd === 'empty') {
    const deadline = Date.now() + Number(a2 || 20000);
    let left;
    for (;;) {
      left = await counts(c, a1);
      if (left.every((x) => x === 0)) break;
      assert.ok(Date.now() < deadline, `queue still holds (visible, in flight, delayed) ${left}`);
      await sleep(200);
    }
  } else {
    process.stderr.write('usage: fauxqs.js serve PORT | create EP NAME | send EP URL N PREFIX | ' +
      'expect EP URL N PREFIX [ATTRIBUTE] | empty EP URL [TIMEOUT_MS]\n');
    process.exit(2);
  }
}

if (cmd === 'serve') {
  serve(args[0]).catch((e) => { console.error(e); process.exit(1); });
} else {
  run(`fauxqs.js ${cmd}`, main);
}
