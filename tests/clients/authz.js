'use strict';
/*
 * Access control (issue 22), Node half: @aws-sdk/client-sqs v3 (JSON 1.0)
 * with restricted keys against lmqd started by tests/check_clients.c as
 *
 *   lmqd --account 123456789012 --credentials FILE --policies FILE \
 *        --tls-cert C --tls-key K --listen http://... --listen https://...
 *
 *   node authz.js http://127.0.0.1:PORT   (LMQ_HTTPS_ENDPOINT, LMQ_TLS_CA)
 *
 * The keys (lib/authz_keys.json, also written into lmqd's files by the C
 * driver): an admin key (the account's root), the tutorial's worker
 * (identity policy: sqs:ReceiveMessage and sqs:DeleteMessage on
 * authz-*), a producer without any identity policy, and the root of a
 * partner account.
 *
 * - the worker receives and deletes, and gets AccessDenied (403) on send,
 *   batch send, purge, SetQueueAttributes, CreateQueue and ListQueues;
 *   none of those changed the queue;
 * - the producer is denied until the queue's Policy names it, then sends;
 *   a denied delete of the producer leaves the message in place;
 * - AddPermission lets the partner account send; RemovePermission stops it;
 * - a Deny on aws:SecureTransport=false: the admin (root) is denied over
 *   HTTP and served over HTTPS;
 * - aws:SourceIp conditions see the client's address (127.0.0.1).
 */
const fs = require('node:fs');
const https = require('node:https');
const sqs = require('@aws-sdk/client-sqs');
const { NodeHttpHandler } = require('@smithy/node-http-handler');
const { assert, endpoint, step, expectError, v3Client, run } = require('./lib/common');
const K = require('./lib/authz_keys.json');

const ep = endpoint();
const eps = process.env.LMQ_HTTPS_ENDPOINT;
const ca = process.env.LMQ_TLS_CA;
if (!eps || !ca) {
  console.error('authz.js: set LMQ_HTTPS_ENDPOINT and LMQ_TLS_CA');
  process.exit(2);
}
const Q = 'authz-js';
const url = `${ep}/${K.account}/${Q}`;
const surl = `${eps}/${K.account}/${Q}`;
const arn = `arn:aws:sqs:us-east-1:${K.account}:${Q}`;

const client = (who, e = ep) => v3Client(e, {
  credentials: { accessKeyId: K[who].id, secretAccessKey: K[who].secret },
  ...(e.startsWith('https:')
    ? { requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: fs.readFileSync(ca) }) }) }
    : {}),
});

/* AccessDenied as SQS sends it: 403, name/Code from x-amzn-query-error. */
const denied = (action) => (e) => {
  assert.equal(e.$metadata.httpStatusCode, 403);
  assert.equal(e.name, 'AccessDenied');
  assert.equal(e.Code, 'AccessDenied');
  assert.match(e.message, new RegExp(`is not authorized to perform: ${action.toLowerCase()} on resource: `));
};

async function count(admin) {
  const a = await admin.send(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  return a.Attributes;
}

async function main() {
  const admin = client('admin');
  const worker = client('worker');
  const producer = client('producer');
  const partner = client('partner');

  await step('the admin (the account root) creates and fills the queue', async () => {
    const r = await admin.send(new sqs.CreateQueueCommand({ QueueName: Q, Attributes: { VisibilityTimeout: '30' } }));
    assert.equal(r.QueueUrl, url);
    for (const b of ['one', 'two'])
      await admin.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: b }));
  });

  await step('the worker receives and deletes (its identity policy)', async () => {
    const m = await worker.send(new sqs.ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    assert.equal(m.Messages.length, 1);
    await worker.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.Messages[0].ReceiptHandle }));
  });

  await step('the worker is denied what its policy does not allow', async () => {
    await expectError('worker SendMessage', worker.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
      denied('sqs:SendMessage'));
    await expectError('worker SendMessageBatch',
      worker.send(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'x' }] })),
      denied('sqs:SendMessage'));
    await expectError('worker PurgeQueue', worker.send(new sqs.PurgeQueueCommand({ QueueUrl: url })),
      denied('sqs:PurgeQueue'));
    await expectError('worker SetQueueAttributes',
      worker.send(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '5' } })),
      denied('sqs:SetQueueAttributes'));
    await expectError('worker CreateQueue', worker.send(new sqs.CreateQueueCommand({ QueueName: 'authz-js-new' })),
      denied('sqs:CreateQueue'));
    await expectError('worker ListQueues', worker.send(new sqs.ListQueuesCommand({})), denied('sqs:ListQueues'));
  });

  await step('the denied calls changed nothing', async () => {
    const a = await count(admin);
    assert.equal(a.ApproximateNumberOfMessages, '1', 'one message left, nothing sent, nothing purged');
    assert.equal(a.VisibilityTimeout, '30');
    const l = await admin.send(new sqs.ListQueuesCommand({ QueueNamePrefix: 'authz-js' }));
    assert.deepEqual(l.QueueUrls, [url]);
  });

  let handle;
  await step('the producer has no identity policy: denied, and a denied delete leaves the message', async () => {
    await expectError('producer SendMessage', producer.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'p' })),
      denied('sqs:SendMessage'));
    const m = await admin.send(new sqs.ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
    handle = m.Messages[0].ReceiptHandle;
    await expectError('producer DeleteMessage', producer.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: handle })),
      denied('sqs:DeleteMessage'));
    assert.equal((await count(admin)).ApproximateNumberOfMessages, '1');
  });

  await step('a queue policy naming the producer lets it send', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'producer', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${K.account}:user/producer` },
        Action: 'sqs:SendMessage', Resource: arn }],
    };
    await admin.send(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: JSON.stringify(policy) } }));
    await producer.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'from the producer' }));
    await producer.send(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'b', MessageBody: 'batch' }] }));
    await expectError('worker SendMessage still', worker.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
      denied('sqs:SendMessage'));
    assert.equal((await count(admin)).ApproximateNumberOfMessages, '3');
  });

  await step('AddPermission admits the partner account; RemovePermission ends it', async () => {
    await expectError('partner before', partner.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
      denied('sqs:SendMessage'));
    await admin.send(new sqs.AddPermissionCommand({ QueueUrl: url, Label: 'partner', AWSAccountIds: [K.partner_account],
      Actions: ['SendMessage'] }));
    await partner.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'from the partner' }));
    await admin.send(new sqs.RemovePermissionCommand({ QueueUrl: url, Label: 'partner' }));
    await expectError('partner after', partner.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
      denied('sqs:SendMessage'));
    assert.equal((await count(admin)).ApproximateNumberOfMessages, '4');
  });

  await step('Deny aws:SecureTransport=false: HTTP denied (even the root), HTTPS served', async () => {
    const a = await count(admin);
    const policy = JSON.parse(a.Policy);
    policy.Statement.push({ Sid: 'tls-only', Effect: 'Deny', Principal: '*', Action: 'sqs:*', Resource: arn,
      Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    await admin.send(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: JSON.stringify(policy) } }));
    await expectError('admin over HTTP', admin.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })),
      (e) => { denied('sqs:SendMessage')(e); assert.match(e.message, /explicit deny in a resource-based policy/); });
    const sadmin = client('admin', eps);
    await sadmin.send(new sqs.SendMessageCommand({ QueueUrl: surl, MessageBody: 'over TLS' }));
    await client('producer', eps).send(new sqs.SendMessageCommand({ QueueUrl: surl, MessageBody: 'producer over TLS' }));
    const n = await sadmin.send(new sqs.GetQueueAttributesCommand({ QueueUrl: surl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    assert.equal(n.Attributes.ApproximateNumberOfMessages, '6');
    await expectError('worker over HTTP', worker.send(new sqs.ReceiveMessageCommand({ QueueUrl: url })),
      denied('sqs:ReceiveMessage'));
    const m = await client('worker', eps).send(new sqs.ReceiveMessageCommand({ QueueUrl: surl }));
    assert.equal(m.Messages.length, 1);
  });

  await step('aws:SourceIp is the client\'s address', async () => {
    const sadmin = client('admin', eps);
    const a = await sadmin.send(new sqs.GetQueueAttributesCommand({ QueueUrl: surl, AttributeNames: ['Policy'] }));
    const policy = JSON.parse(a.Attributes.Policy);
    policy.Statement.push(
      { Sid: 'no-tags-from-here', Effect: 'Deny', Principal: '*', Action: 'sqs:TagQueue', Resource: arn,
        Condition: { IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } },
      { Sid: 'only-local', Effect: 'Deny', Principal: '*', Action: 'sqs:*', Resource: arn,
        Condition: { NotIpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } });
    await sadmin.send(new sqs.SetQueueAttributesCommand({ QueueUrl: surl, Attributes: { Policy: JSON.stringify(policy) } }));
    await expectError('TagQueue from 127.0.0.1', sadmin.send(new sqs.TagQueueCommand({ QueueUrl: surl, Tags: { a: 'b' } })),
      denied('sqs:TagQueue'));
    await sadmin.send(new sqs.ListQueueTagsCommand({ QueueUrl: surl }));
  });
}

run('authz', main);
