'use strict';
/*
 * Scenario 2: aws-sdk v2 (the SDK of the tutorials people copy; JSON
 * protocol since 2.1491, with its own MD5 checks on) against lmqd.
 *
 *   node v2.js http://127.0.0.1:PORT
 */
const common = require('./lib/common');
const AWS = require('aws-sdk');

const { assert, endpoint, md5, step, expectError, md5OfAttributes, run } = common;
const ep = endpoint();
const sqs = new AWS.SQS({
  endpoint: ep,
  region: process.env.AWS_REGION || 'us-east-1',
  accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'test',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'test',
  maxRetries: 0,
});
const urlOf = (name) => `${ep}/000000000000/${name}`;

async function main() {
  let url;
  await step('createQueue', async () => {
    const r = await sqs.createQueue({ QueueName: 'v2-jobs', Attributes: { VisibilityTimeout: '20' } }).promise();
    url = r.QueueUrl;
    assert.equal(url, urlOf('v2-jobs'));
    const g = await sqs.getQueueUrl({ QueueName: 'v2-jobs' }).promise();
    assert.equal(g.QueueUrl, url);
    const l = await sqs.listQueues({ QueueNamePrefix: 'v2-' }).promise();
    assert.deepEqual(l.QueueUrls, [url]);
  });

  const attrs = {
    City: { DataType: 'String', StringValue: 'Z\u00fcrich' },
    Count: { DataType: 'Number', StringValue: '7' },
    Blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3, 0]) },
  };
  let sentId;
  await step('sendMessage with attributes', async () => {
    const body = 'order #1 \u{1F4E6} <b>&amp;</b>\r\n';
    const r = await sqs.sendMessage({ QueueUrl: url, MessageBody: body, MessageAttributes: attrs, DelaySeconds: 0 }).promise();
    assert.equal(r.MD5OfMessageBody, md5(body));
    assert.equal(r.MD5OfMessageAttributes, md5OfAttributes(attrs));
    sentId = r.MessageId;
  });

  await step('receiveMessage with attributes, deleteMessage', async () => {
    const r = await sqs.receiveMessage({
      QueueUrl: url, MaxNumberOfMessages: 10, AttributeNames: ['All'], MessageAttributeNames: ['All'], WaitTimeSeconds: 1,
    }).promise();
    assert.equal(r.Messages.length, 1);
    const m = r.Messages[0];
    assert.equal(m.MessageId, sentId);
    assert.equal(m.Body, 'order #1 \u{1F4E6} <b>&amp;</b>\r\n');
    assert.equal(m.MD5OfBody, md5(m.Body));
    assert.equal(m.MessageAttributes.City.StringValue, 'Z\u00fcrich');
    assert.equal(m.MessageAttributes.Count.StringValue, '7');
    assert.equal(m.MessageAttributes.Count.DataType, 'Number');
    assert.ok(Buffer.from(m.MessageAttributes.Blob.BinaryValue).equals(Buffer.from([1, 2, 3, 0])), 'binary attribute bytes');
    assert.equal(m.MD5OfMessageAttributes, md5OfAttributes(attrs));
    assert.equal(m.Attributes.ApproximateReceiveCount, '1');
    assert.match(m.Attributes.SentTimestamp, /^\d{13}$/);
    await sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }).promise();
    const a = await sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['All'] }).promise();
    assert.equal(a.Attributes.ApproximateNumberOfMessages, '0');
    assert.equal(a.Attributes.ApproximateNumberOfMessagesNotVisible, '0');
    assert.equal(a.Attributes.VisibilityTimeout, '20');
    assert.equal(a.Attributes.QueueArn, 'arn:aws:sqs:us-east-1:000000000000:v2-jobs');
  });

  await step('sendMessageBatch / deleteMessageBatch', async () => {
    const entries = Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `batch message ${i}` }));
    const s = await sqs.sendMessageBatch({ QueueUrl: url, Entries: entries }).promise();
    assert.equal(s.Successful.length, 10);
    assert.deepEqual(s.Failed, []);
    for (const e of s.Successful) assert.equal(e.MD5OfMessageBody, md5(`batch message ${e.Id.slice(1)}`));
    const got = [];
    for (let i = 0; i < 10 && got.length < 10; i++) {
      const r = await sqs.receiveMessage({ QueueUrl: url, MaxNumberOfMessages: 10 }).promise();
      got.push(...(r.Messages || []));
    }
    assert.equal(got.length, 10);
    assert.deepEqual(got.map((m) => m.Body).sort(), entries.map((e) => e.MessageBody).sort());
    const d = await sqs.deleteMessageBatch({
      QueueUrl: url, Entries: got.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
    }).promise();
    assert.equal(d.Successful.length, 10);
    assert.deepEqual(d.Failed, []);
    const a = await sqs.getQueueAttributes({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }).promise();
    assert.deepEqual(a.Attributes, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  await step('errors by code', async () => {
    await expectError('receiveMessage from a missing queue',
      sqs.receiveMessage({ QueueUrl: urlOf('v2-missing') }).promise(), (e) => {
        assert.equal(e.code, 'AWS.SimpleQueueService.NonExistentQueue');
        assert.equal(e.statusCode, 400);
      });
    await expectError('getQueueUrl of a missing queue', sqs.getQueueUrl({ QueueName: 'v2-missing' }).promise(),
      (e) => assert.equal(e.code, 'AWS.SimpleQueueService.NonExistentQueue'));
    await expectError('deleteMessage with a garbage handle',
      sqs.deleteMessage({ QueueUrl: url, ReceiptHandle: 'garbage' }).promise(), (e) => {
        assert.equal(e.code, 'ReceiptHandleIsInvalid');
        assert.equal(e.statusCode, 404);
      });
  });

  await step('FIFO send/receive', async () => {
    const f = (await sqs.createQueue({
      QueueName: 'v2-jobs.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
    }).promise()).QueueUrl;
    assert.equal(f, urlOf('v2-jobs.fifo'));
    for (const b of ['first', 'second', 'third']) {
      const r = await sqs.sendMessage({ QueueUrl: f, MessageBody: b, MessageGroupId: 'user-42' }).promise();
      assert.match(r.SequenceNumber, /^\d+$/);
    }
    await sqs.sendMessage({ QueueUrl: f, MessageBody: 'first', MessageGroupId: 'user-42' }).promise(); // duplicate
    const r = await sqs.receiveMessage({ QueueUrl: f, MaxNumberOfMessages: 10, AttributeNames: ['All'] }).promise();
    assert.deepEqual(r.Messages.map((m) => m.Body), ['first', 'second', 'third']);
    assert.equal(r.Messages[0].Attributes.MessageGroupId, 'user-42');
    await sqs.deleteMessageBatch({
      QueueUrl: f, Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
    }).promise();
    const again = await sqs.receiveMessage({ QueueUrl: f }).promise();
    // (v2 turns an absent list into [] for awsQueryCompatible services)
    assert.deepEqual(again.Messages || [], [], 'the duplicate was dropped');
  });

  await step('deleteQueue', async () => {
    await sqs.deleteQueue({ QueueUrl: url }).promise();
    await expectError('getQueueUrl after deleteQueue', sqs.getQueueUrl({ QueueName: 'v2-jobs' }).promise(),
      (e) => assert.equal(e.code, 'AWS.SimpleQueueService.NonExistentQueue'));
  });
}

run('v2', main);
