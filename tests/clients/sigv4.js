'use strict';
/*
 * Scenario 6 (Node half): lmqd started with --auth verify --credentials FILE.
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY hold a pair from FILE.
 *
 *   node sigv4.js http://127.0.0.1:PORT
 *
 * - @aws-sdk/client-sqs with the right keys works;
 * - a wrong secret gets SignatureDoesNotMatch (403), an unknown key
 *   InvalidClientTokenId (403);
 * - an unsigned request gets 403 MissingAuthenticationToken;
 * - a request signed (correctly) 20 minutes ago gets RequestExpired, while the
 *   same raw signer with the current time is accepted;
 * - a body changed after signing gets SignatureDoesNotMatch, and a mangled
 *   Authorization header IncompleteSignature (or MissingAuthenticationToken).
 */
const sqs = require('@aws-sdk/client-sqs');
const { assert, endpoint, step, expectError, v3Client, run } = require('./lib/common');
const { jsonRequest, request, errType } = require('./lib/raw');

const ep = endpoint();
const good = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
if (!good.accessKeyId || !good.secretAccessKey || good.accessKeyId === 'test') {
  console.error('sigv4.js: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to a pair from lmqd --credentials');
  process.exit(2);
}

function rawErr(res, type, statusCheck, what) {
  assert.ok(statusCheck(res.status), `${what}: HTTP status ${res.status} (body ${res.body})`);
  assert.equal(errType(res), type, `${what}: __type in ${res.body}`);
  const qe = res.headers['x-amzn-query-error'];
  assert.ok(qe && qe.startsWith(type + ';'), `${what}: x-amzn-query-error ${qe}`);
}

async function main() {
  const url = `${ep}/000000000000/sig-q`;

  await step('signed by the SDK with the right keys', async () => {
    const c = v3Client(ep, { credentials: good });
    const r = await c.send(new sqs.CreateQueueCommand({ QueueName: 'sig-q' }));
    assert.equal(r.QueueUrl, url);
    await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'signed' }));
    const m = await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: url, AttributeNames: ['SenderId'] }));
    assert.equal(m.Messages[0].Body, 'signed');
    await c.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.Messages[0].ReceiptHandle }));
  });

  await step('wrong secret: SignatureDoesNotMatch', async () => {
    const c = v3Client(ep, { credentials: { ...good, secretAccessKey: good.secretAccessKey + 'x' } });
    await expectError('ListQueues with a wrong secret', c.send(new sqs.ListQueuesCommand({})), (e) => {
      assert.equal(e.name, 'SignatureDoesNotMatch');
      assert.equal(e.$metadata.httpStatusCode, 403);
    });
    await expectError('SendMessage with a wrong secret',
      c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'forged' })),
      (e) => assert.equal(e.name, 'SignatureDoesNotMatch'));
  });

  await step('unknown access key: InvalidClientTokenId', async () => {
    const c = v3Client(ep, { credentials: { accessKeyId: 'AKIDUNKNOWN00000', secretAccessKey: good.secretAccessKey } });
    await expectError('ListQueues with an unknown key', c.send(new sqs.ListQueuesCommand({})), (e) => {
      assert.equal(e.name, 'InvalidClientTokenId');
      assert.equal(e.$metadata.httpStatusCode, 403);
    });
  });

  await step('unsigned raw request: 403 MissingAuthenticationToken', async () => {
    const res = await jsonRequest(ep, 'ListQueues', {});
    rawErr(res, 'MissingAuthenticationToken', (s) => s === 403, 'unsigned JSON request');
    const q = await request(ep, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=ListQueues&Version=2012-11-05',
    });
    assert.equal(q.status, 403, `unsigned Query request: ${q.status} ${q.body}`);
    assert.match(q.body, /<Code>MissingAuthenticationToken<\/Code>/);
  });

  await step('raw signer with the current time is accepted', async () => {
    const res = await jsonRequest(ep, 'GetQueueUrl', { QueueName: 'sig-q' }, { creds: good });
    assert.equal(res.status, 200, `signed raw request: ${res.status} ${res.body}`);
    assert.equal(JSON.parse(res.body).QueueUrl, url);
  });

  await step('signed 20 minutes ago: RequestExpired', async () => {
    const res = await jsonRequest(ep, 'GetQueueUrl', { QueueName: 'sig-q' },
      { creds: good, signingDate: new Date(Date.now() - 20 * 60 * 1000) });
    rawErr(res, 'RequestExpired', (s) => s >= 400 && s < 500, 'a 20-minute-old signature');
    const future = await jsonRequest(ep, 'GetQueueUrl', { QueueName: 'sig-q' },
      { creds: good, signingDate: new Date(Date.now() + 20 * 60 * 1000) });
    rawErr(future, 'RequestExpired', (s) => s >= 400 && s < 500, 'a signature dated 20 minutes ahead');
  });

  await step('body changed after signing: SignatureDoesNotMatch', async () => {
    const res = await jsonRequest(ep, 'SendMessage', { QueueUrl: url, MessageBody: 'aaaa' },
      { creds: good, tamper: (b) => b.replace('aaaa', 'bbbb') });
    rawErr(res, 'SignatureDoesNotMatch', (s) => s === 403, 'tampered body');
  });

  await step('mangled Authorization header', async () => {
    const body = JSON.stringify({});
    const res = await request(ep, {
      headers: {
        'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues',
        'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
        authorization: 'AWS4-HMAC-SHA256 Credential=garbage',
      },
      body,
    });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.ok(['IncompleteSignature', 'MissingAuthenticationToken', 'InvalidClientTokenId'].includes(errType(res)),
      `__type for a mangled Authorization header: ${res.body}`);
  });

  await step('nothing forged reached the queue', async () => {
    const c = v3Client(ep, { credentials: good });
    const a = await c.send(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    assert.equal(a.Attributes.ApproximateNumberOfMessages, '0');
  });
}

run('sigv4', main);
