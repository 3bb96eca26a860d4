'use strict';
/*
 * Scenario 1: @aws-sdk/client-sqs (JS v3, AWS JSON 1.0 protocol, MD5 checks
 * on) against every SQS action of lmqd.
 *
 *   node v3.js http://127.0.0.1:PORT
 *
 * Optional: LMQ_BIN and LMQ_HOME (the home lmqd serves) add a long poll
 * woken by a send from the `lmq` CLI; tests/check_clients.c always sets them.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const sqs = require('@aws-sdk/client-sqs');
const {
  assert, endpoint, sleep, md5, sha256, step, expectError, until, md5OfAttributes, v3Client, run,
} = require('./lib/common');

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ep = endpoint();
const client = v3Client(ep);
const send = (Cmd, input) => client.send(new sqs[Cmd + 'Command'](input));
const urlOf = (name) => `${ep}/${ACCOUNT}/${name}`;
const arnOf = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

/* The error checks: the modelled name, the query-compatible code from
 * x-amzn-query-error, and the HTTP status (SQS-SEMANTICS.md §6.2.3, §7). */
function isErr(name, code, status) {
  return (e) => {
    if (name) assert.equal(e.name, name, 'e.name');
    if (code) assert.equal(e.Code, code, 'e.Code (x-amzn-query-error)');
    if (status) assert.equal(e.$metadata && e.$metadata.httpStatusCode, status, 'HTTP status');
    assert.equal(e.Type, 'Sender', 'e.Type (fault)');
  };
}
const NO_QUEUE = isErr('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 400);

async function count(url, which = 'ApproximateNumberOfMessages') {
  const r = await send('GetQueueAttributes', { QueueUrl: url, AttributeNames: [which] });
  return Number(r.Attributes[which]);
}

async function drain(url, n, extra = {}) {
  const got = [];
  for (let i = 0; i < 20 && got.length < n; i++) {
    const r = await send('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, ...extra });
    got.push(...(r.Messages || []));
  }
  return got;
}

const BODY = 'line1\r\nline2\rline3\n' + 'snow \u2603 smile \u{1F600} ' + 'cdata ]]> tags <&> "q" \'a\' \ttab';
const TRACE = 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1';
const ATTRS = {
  Str: { DataType: 'String', StringValue: 'h\u00e9llo \u{1F600} <&> ]]>' },
  Num: { DataType: 'Number', StringValue: '42.5' },
  Price: { DataType: 'Number.float', StringValue: '4563442423554324324264524243.32543234' },
  Bin: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 2, 0xfe, 0xff]) },
};

function sameAttrs(got, want, what) {
  assert.deepEqual(Object.keys(got || {}).sort(), Object.keys(want).sort(), `${what}: attribute names`);
  for (const [k, v] of Object.entries(want)) {
    assert.ok(got && got[k], `${what}: attribute ${k} missing`);
    assert.equal(got[k].DataType, v.DataType, `${what}: ${k}.DataType`);
    if (v.BinaryValue) {
      assert.ok(Buffer.from(got[k].BinaryValue).equals(Buffer.from(v.BinaryValue)), `${what}: ${k}.BinaryValue bytes`);
    } else {
      assert.equal(got[k].StringValue, v.StringValue, `${what}: ${k}.StringValue`);
    }
  }
}

async function main() {
  const mainUrl = urlOf('v3-main');

  await step('CreateQueue with attributes and tags', async () => {
    const r = await send('CreateQueue', {
      QueueName: 'v3-main',
      Attributes: { VisibilityTimeout: '45', MessageRetentionPeriod: '86400', MaximumMessageSize: '262144' },
      tags: { team: 'core', env: 'test' },
    });
    assert.equal(r.QueueUrl, mainUrl, 'QueueUrl uses the request Host');
    const again = await send('CreateQueue', { QueueName: 'v3-main', Attributes: { VisibilityTimeout: '45' } });
    assert.equal(again.QueueUrl, mainUrl, 'idempotent CreateQueue returns the same URL');
    const plain = await send('CreateQueue', { QueueName: 'v3-main' });
    assert.equal(plain.QueueUrl, mainUrl);
    await expectError('CreateQueue with a different VisibilityTimeout',
      send('CreateQueue', { QueueName: 'v3-main', Attributes: { VisibilityTimeout: '46' } }),
      isErr('QueueNameExists', 'QueueAlreadyExists', 400));
    await expectError('CreateQueue with a bad name',
      send('CreateQueue', { QueueName: 'bad name!' }), isErr(null, 'InvalidParameterValue', 400));
  });

  await step('GetQueueUrl', async () => {
    const r = await send('GetQueueUrl', { QueueName: 'v3-main' });
    assert.equal(r.QueueUrl, mainUrl);
    const e = await expectError('GetQueueUrl of a missing queue', send('GetQueueUrl', { QueueName: 'v3-nope' }), NO_QUEUE);
    assert.match(e.message, /does not exist/, 'error message');
  });

  await step('ListQueues with MaxResults/NextToken paging', async () => {
    const names = ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e'];
    for (const n of names) await send('CreateQueue', { QueueName: n });
    const seen = [];
    let token;
    let pages = 0;
    do {
      const r = await send('ListQueues', { QueueNamePrefix: 'pg-', MaxResults: 2, NextToken: token });
      pages++;
      assert.ok(r.QueueUrls && r.QueueUrls.length >= 1 && r.QueueUrls.length <= 2, `page ${pages} has 1-2 URLs: ${JSON.stringify(r.QueueUrls)}`);
      seen.push(...r.QueueUrls);
      token = r.NextToken;
      assert.ok(pages <= 5, 'paging terminates');
    } while (token);
    assert.equal(pages, 3, 'five queues in pages of two');
    assert.deepEqual([...seen].sort(), names.map(urlOf), 'every queue exactly once');
    const all = await send('ListQueues', { QueueNamePrefix: 'pg-' });
    assert.equal(all.NextToken, undefined, 'no NextToken without MaxResults');
    assert.deepEqual([...all.QueueUrls].sort(), names.map(urlOf));
    const none = await send('ListQueues', { QueueNamePrefix: 'zz-no-such' });
    assert.equal(none.QueueUrls, undefined, 'no QueueUrls key when nothing matches');
    const everything = await send('ListQueues', {});
    assert.ok(everything.QueueUrls.includes(mainUrl));
  });

  await step('Get/SetQueueAttributes', async () => {
    const r = await send('GetQueueAttributes', { QueueUrl: mainUrl, AttributeNames: ['All'] });
    const a = r.Attributes;
    assert.equal(a.VisibilityTimeout, '45');
    assert.equal(a.MessageRetentionPeriod, '86400');
    assert.equal(a.MaximumMessageSize, '262144');
    assert.equal(a.QueueArn, arnOf('v3-main'));
    assert.equal(a.ApproximateNumberOfMessages, '0');
    assert.equal(a.DelaySeconds, '0');
    assert.match(a.CreatedTimestamp, /^\d{10}$/, 'CreatedTimestamp in epoch seconds');
    await send('SetQueueAttributes', { QueueUrl: mainUrl, Attributes: { VisibilityTimeout: '60', ReceiveMessageWaitTimeSeconds: '0' } });
    const r2 = await send('GetQueueAttributes', { QueueUrl: mainUrl, AttributeNames: ['VisibilityTimeout'] });
    assert.deepEqual(r2.Attributes, { VisibilityTimeout: '60' }, 'only the asked attribute');
    await expectError('SetQueueAttributes with an unknown name',
      send('SetQueueAttributes', { QueueUrl: mainUrl, Attributes: { NoSuchAttribute: '1' } }),
      isErr('InvalidAttributeName', 'InvalidAttributeName', 400));
    await expectError('SetQueueAttributes with a bad value',
      send('SetQueueAttributes', { QueueUrl: mainUrl, Attributes: { VisibilityTimeout: '43201' } }),
      isErr(null, 'InvalidAttributeValue', 400));
    await expectError('GetQueueAttributes of a missing queue',
      send('GetQueueAttributes', { QueueUrl: urlOf('v3-nope'), AttributeNames: ['All'] }), NO_QUEUE);
  });

  await step('Tag/Untag/ListQueueTags', async () => {
    let r = await send('ListQueueTags', { QueueUrl: mainUrl });
    assert.deepEqual(r.Tags, { team: 'core', env: 'test' }, 'tags given at CreateQueue');
    await send('TagQueue', { QueueUrl: mainUrl, Tags: { owner: 'lmq', team: 'platform' } });
    await send('UntagQueue', { QueueUrl: mainUrl, TagKeys: ['env'] });
    r = await send('ListQueueTags', { QueueUrl: mainUrl });
    assert.deepEqual(r.Tags, { team: 'platform', owner: 'lmq' });
    await send('UntagQueue', { QueueUrl: mainUrl, TagKeys: ['team', 'owner'] });
    r = await send('ListQueueTags', { QueueUrl: mainUrl });
    assert.equal(r.Tags, undefined, 'no Tags key when there are none');
  });

  let firstId;
  await step('SendMessage with String/Number/Binary attributes and an awkward body', async () => {
    const r = await send('SendMessage', {
      QueueUrl: mainUrl, MessageBody: BODY, MessageAttributes: ATTRS,
      MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: TRACE } },
    });
    assert.equal(r.MD5OfMessageBody, md5(BODY));
    assert.equal(r.MD5OfMessageAttributes, md5OfAttributes(ATTRS));
    assert.equal(r.MD5OfMessageSystemAttributes, '5f48eef650c1d0207456969c85af2fdd');
    assert.match(r.MessageId, /^[0-9a-f-]{36}$/);
    assert.equal(r.SequenceNumber, undefined, 'no SequenceNumber on a standard queue');
    firstId = r.MessageId;
    const plain = await send('SendMessage', { QueueUrl: mainUrl, MessageBody: 'plain' });
    assert.equal(plain.MD5OfMessageAttributes, undefined, 'no MD5OfMessageAttributes without attributes');
    assert.equal(await count(mainUrl), 2);
  });

  await step('a queue is found by the path of its URL, whatever the host (§6.4)', async () => {
    // (the client has an explicit endpoint, so these hosts are only text in
    // the request body: nothing is resolved or contacted)
    for (const foreign of [
      `http://localhost:1/${ACCOUNT}/v3-main`,
      `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/v3-main`,
      `http://sqs.us-east-1.localhost.localstack.cloud:4566/${ACCOUNT}/v3-main`,
    ]) {
      const r = await send('GetQueueAttributes', { QueueUrl: foreign, AttributeNames: ['QueueArn'] });
      assert.equal(r.Attributes.QueueArn, arnOf('v3-main'), `QueueUrl ${foreign}`);
    }
  });

  await step('ReceiveMessage with All attributes, then a filtered re-receive', async () => {
    const before = Date.now();
    const r = await send('ReceiveMessage', {
      QueueUrl: mainUrl, MaxNumberOfMessages: 10, AttributeNames: ['All'],
      MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['AWSTraceHeader', 'SentTimestamp'],
    });
    assert.equal(r.Messages.length, 2, 'both messages');
    const m = r.Messages.find((x) => x.MessageId === firstId);
    assert.ok(m, 'the attribute message is there');
    assert.equal(m.Body, BODY, 'body round-trips byte for byte');
    assert.equal(m.MD5OfBody, md5(BODY));
    sameAttrs(m.MessageAttributes, ATTRS, 'MessageAttributes');
    assert.equal(m.MD5OfMessageAttributes, md5OfAttributes(ATTRS));
    const a = m.Attributes;
    assert.equal(a.ApproximateReceiveCount, '1');
    assert.equal(a.AWSTraceHeader, TRACE);
    assert.ok(a.SenderId && a.SenderId.length > 0, 'SenderId');
    assert.match(a.SentTimestamp, /^\d{13}$/);
    assert.ok(Math.abs(Number(a.SentTimestamp) - before) < 60000, 'SentTimestamp is epoch ms, about now');
    assert.match(a.ApproximateFirstReceiveTimestamp, /^\d{13}$/);
    const p = r.Messages.find((x) => x.MessageId !== firstId);
    assert.equal(p.Body, 'plain');
    assert.equal(p.MessageAttributes, undefined);
    assert.equal(p.MD5OfMessageAttributes, undefined);
    assert.equal(await count(mainUrl, 'ApproximateNumberOfMessagesNotVisible'), 2);
    assert.equal(await count(mainUrl), 0);

    // Make the first message visible again and receive it with a filter.
    await send('ChangeMessageVisibility', { QueueUrl: mainUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 });
    const r2 = await send('ReceiveMessage', {
      QueueUrl: mainUrl, MessageAttributeNames: ['Str', 'Nu.*', 'Missing'], AttributeNames: ['ApproximateReceiveCount'],
    });
    assert.equal(r2.Messages.length, 1);
    const m2 = r2.Messages[0];
    assert.equal(m2.MessageId, firstId);
    assert.notEqual(m2.ReceiptHandle, m.ReceiptHandle, 'a new receipt handle per delivery');
    assert.deepEqual(m2.Attributes, { ApproximateReceiveCount: '2' });
    const subset = { Str: ATTRS.Str, Num: ATTRS.Num };
    sameAttrs(m2.MessageAttributes, subset, 'filtered MessageAttributes');
    assert.equal(m2.MD5OfMessageAttributes, md5OfAttributes(subset), 'MD5 over the returned subset');
    // An old handle deletes on a standard queue; the current one as well.
    await send('DeleteMessage', { QueueUrl: mainUrl, ReceiptHandle: m2.ReceiptHandle });
    await send('DeleteMessage', { QueueUrl: mainUrl, ReceiptHandle: p.ReceiptHandle });
    await send('DeleteMessage', { QueueUrl: mainUrl, ReceiptHandle: p.ReceiptHandle }); // repeated: 200
    assert.equal(await count(mainUrl, 'ApproximateNumberOfMessagesNotVisible'), 0);
    assert.equal(await count(mainUrl), 0);
  });

  await step('ReceiveMessage/DeleteMessage errors', async () => {
    await expectError('ReceiveMessage MaxNumberOfMessages 11',
      send('ReceiveMessage', { QueueUrl: mainUrl, MaxNumberOfMessages: 11 }), isErr(null, 'InvalidParameterValue', 400));
    await expectError('ReceiveMessage WaitTimeSeconds 21',
      send('ReceiveMessage', { QueueUrl: mainUrl, WaitTimeSeconds: 21 }), isErr(null, 'InvalidParameterValue', 400));
    await expectError('SendMessage without MessageBody',
      send('SendMessage', { QueueUrl: mainUrl }), isErr(null, 'MissingParameter', 400));
    await expectError('SendMessage with a NUL in the body',
      send('SendMessage', { QueueUrl: mainUrl, MessageBody: 'a\u0000b' }), isErr(null, 'InvalidMessageContents', 400));
    await expectError('DeleteMessage with a garbage handle',
      send('DeleteMessage', { QueueUrl: mainUrl, ReceiptHandle: 'garbage' }),
      isErr('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404));
    await expectError('ChangeMessageVisibility with a garbage handle',
      send('ChangeMessageVisibility', { QueueUrl: mainUrl, ReceiptHandle: 'garbage', VisibilityTimeout: 5 }),
      isErr('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404));
    await expectError('ReceiveMessage from a missing queue',
      send('ReceiveMessage', { QueueUrl: urlOf('v3-nope') }), NO_QUEUE);
    assert.equal(await count(mainUrl), 0, 'no error left a message behind');
  });

  await step('SendMessageBatch with per-entry failures', async () => {
    const r = await send('SendMessageBatch', {
      QueueUrl: mainUrl,
      Entries: [
        { Id: 'good-1', MessageBody: 'batch one' },
        { Id: 'bad_nul', MessageBody: 'has \u0000 nul' },
        { Id: 'good-2', MessageBody: 'batch two \u{1F680}', MessageAttributes: { k: { DataType: 'String', StringValue: 'x' } } },
        { Id: 'bad_delay', MessageBody: 'too late', DelaySeconds: 901 },
        { Id: 'good-3', MessageBody: 'batch three\r' },
      ],
    });
    assert.deepEqual(r.Successful.map((s) => s.Id).sort(), ['good-1', 'good-2', 'good-3']);
    for (const s of r.Successful) assert.match(s.MessageId, /^[0-9a-f-]{36}$/);
    const g2 = r.Successful.find((s) => s.Id === 'good-2');
    assert.equal(g2.MD5OfMessageBody, md5('batch two \u{1F680}'));
    assert.equal(g2.MD5OfMessageAttributes, 'a45daa70926828a2f0a1db3418e6feb4');
    assert.deepEqual(r.Failed.map((f) => f.Id).sort(), ['bad_delay', 'bad_nul']);
    for (const f of r.Failed) {
      assert.equal(f.SenderFault, true, `${f.Id}.SenderFault`);
      assert.ok(f.Code, `${f.Id}.Code`);
    }
    assert.ok(['InvalidMessageContents', 'InvalidParameterValue'].includes(r.Failed.find((f) => f.Id === 'bad_nul').Code),
      'bad_nul fails with InvalidMessageContents or InvalidParameterValue');
    assert.equal(r.Failed.find((f) => f.Id === 'bad_delay').Code, 'InvalidParameterValue');
    assert.equal(await count(mainUrl), 3, 'only the good entries were enqueued');

    const entries = (n) => Array.from({ length: n }, (_, i) => ({ Id: `e${i}`, MessageBody: `m${i}` }));
    await expectError('SendMessageBatch with 11 entries', send('SendMessageBatch', { QueueUrl: mainUrl, Entries: entries(11) }),
      isErr('TooManyEntriesInBatchRequest', 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 400));
    await expectError('SendMessageBatch with no entries', send('SendMessageBatch', { QueueUrl: mainUrl, Entries: [] }),
      isErr('EmptyBatchRequest', 'AWS.SimpleQueueService.EmptyBatchRequest', 400));
    await expectError('SendMessageBatch with duplicate ids',
      send('SendMessageBatch', { QueueUrl: mainUrl, Entries: [{ Id: 'x', MessageBody: '1' }, { Id: 'x', MessageBody: '2' }] }),
      isErr('BatchEntryIdsNotDistinct', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 400));
    await expectError('SendMessageBatch with a bad id',
      send('SendMessageBatch', { QueueUrl: mainUrl, Entries: [{ Id: 'bad id!', MessageBody: '1' }] }),
      isErr('InvalidBatchEntryId', 'AWS.SimpleQueueService.InvalidBatchEntryId', 400));
    assert.equal(await count(mainUrl), 3, 'whole-batch failures enqueue nothing');
  });

  await step('ChangeMessageVisibility(Batch) and DeleteMessageBatch with a bad handle', async () => {
    const r = await send('ReceiveMessage', { QueueUrl: mainUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 });
    assert.equal(r.Messages.length, 3);
    const [m1, m2, m3] = r.Messages;
    const cv = await send('ChangeMessageVisibilityBatch', {
      QueueUrl: mainUrl,
      Entries: [
        { Id: 'c1', ReceiptHandle: m1.ReceiptHandle, VisibilityTimeout: 0 },
        { Id: 'c2', ReceiptHandle: m2.ReceiptHandle, VisibilityTimeout: 120 },
        { Id: 'cbad', ReceiptHandle: 'not-a-handle', VisibilityTimeout: 0 },
      ],
    });
    assert.deepEqual(cv.Successful.map((s) => s.Id).sort(), ['c1', 'c2']);
    assert.equal(cv.Failed.length, 1);
    assert.equal(cv.Failed[0].Id, 'cbad');
    assert.equal(cv.Failed[0].Code, 'ReceiptHandleIsInvalid');
    assert.equal(cv.Failed[0].SenderFault, true);
    assert.equal(await count(mainUrl), 1, 'c1 is visible again');
    const again = await send('ReceiveMessage', { QueueUrl: mainUrl, MaxNumberOfMessages: 10 });
    assert.equal(again.Messages.length, 1);
    assert.equal(again.Messages[0].MessageId, m1.MessageId);
    const del = await send('DeleteMessageBatch', {
      QueueUrl: mainUrl,
      Entries: [
        { Id: 'd1', ReceiptHandle: again.Messages[0].ReceiptHandle },
        { Id: 'd2', ReceiptHandle: m2.ReceiptHandle },
        { Id: 'dbad', ReceiptHandle: 'garbage' },
        { Id: 'd3', ReceiptHandle: m3.ReceiptHandle },
      ],
    });
    assert.deepEqual(del.Successful.map((s) => s.Id).sort(), ['d1', 'd2', 'd3']);
    assert.equal(del.Failed.length, 1);
    assert.equal(del.Failed[0].Id, 'dbad');
    assert.equal(del.Failed[0].Code, 'ReceiptHandleIsInvalid');
    assert.equal(await count(mainUrl), 0);
    assert.equal(await count(mainUrl, 'ApproximateNumberOfMessagesNotVisible'), 0);
    await expectError('DeleteMessageBatch with no entries', send('DeleteMessageBatch', { QueueUrl: mainUrl, Entries: [] }),
      isErr('EmptyBatchRequest', 'AWS.SimpleQueueService.EmptyBatchRequest', 400));
    await expectError('ChangeMessageVisibilityBatch with duplicate ids',
      send('ChangeMessageVisibilityBatch', {
        QueueUrl: mainUrl,
        Entries: [{ Id: 'a', ReceiptHandle: 'x', VisibilityTimeout: 1 }, { Id: 'a', ReceiptHandle: 'y', VisibilityTimeout: 1 }],
      }),
      isErr('BatchEntryIdsNotDistinct', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 400));
  });

  await step('AddPermission/RemovePermission', async () => {
    await send('AddPermission', { QueueUrl: mainUrl, Label: 'lbl-send', AWSAccountIds: ['111122223333'], Actions: ['SendMessage'] });
    let r = await send('GetQueueAttributes', { QueueUrl: mainUrl, AttributeNames: ['Policy'] });
    assert.ok(r.Attributes && r.Attributes.Policy, 'Policy attribute after AddPermission');
    const policy = JSON.parse((r.Attributes && r.Attributes.Policy) || '{"Statement":[]}');
    const st = [].concat(policy.Statement).find((s) => s.Sid === 'lbl-send');
    assert.ok(st, `a statement with Sid lbl-send in ${JSON.stringify(policy)}`);
    assert.match(JSON.stringify(st.Action), /SQS:SendMessage/);
    assert.match(JSON.stringify(st.Principal), /111122223333/);
    assert.equal(st.Resource, arnOf('v3-main'));
    await expectError('AddPermission with a duplicate label',
      send('AddPermission', { QueueUrl: mainUrl, Label: 'lbl-send', AWSAccountIds: ['111122223333'], Actions: ['ReceiveMessage'] }),
      isErr(null, 'InvalidParameterValue', 400));
    await send('RemovePermission', { QueueUrl: mainUrl, Label: 'lbl-send' });
    r = await send('GetQueueAttributes', { QueueUrl: mainUrl, AttributeNames: ['Policy'] });
    const after = (r.Attributes && r.Attributes.Policy) || '';
    assert.ok(!after.includes('lbl-send'), `Policy no longer has the label: ${after}`);
    await expectError('RemovePermission with an unknown label',
      send('RemovePermission', { QueueUrl: mainUrl, Label: 'never-added' }), isErr(null, 'InvalidParameterValue', 400));
  });

  await step('PurgeQueue', async () => {
    await send('SendMessageBatch', {
      QueueUrl: mainUrl,
      Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }, { Id: 'c', MessageBody: 'c', DelaySeconds: 60 }],
    });
    const inflight = await send('ReceiveMessage', { QueueUrl: mainUrl });
    assert.equal(inflight.Messages.length, 1);
    await send('PurgeQueue', { QueueUrl: mainUrl });
    for (const w of ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']) {
      assert.equal(await count(mainUrl, w), 0, `${w} after purge`);
    }
    const r = await send('ReceiveMessage', { QueueUrl: mainUrl });
    assert.equal(r.Messages, undefined, 'no Messages key on an empty receive');
    await expectError('a second PurgeQueue within 60 s', send('PurgeQueue', { QueueUrl: mainUrl }),
      isErr('PurgeQueueInProgress', 'AWS.SimpleQueueService.PurgeQueueInProgress', 403));
  });

  await step('FIFO: group order, content-based and explicit dedup', async () => {
    const url = (await send('CreateQueue', {
      QueueName: 'v3-orders.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
    })).QueueUrl;
    assert.equal(url, urlOf('v3-orders.fifo'));
    const seqs = {};
    const plan = [['g1', 'a1'], ['g2', 'b1'], ['g1', 'a2'], ['g2', 'b2'], ['g1', 'a3']];
    for (const [g, b] of plan) {
      const r = await send('SendMessage', { QueueUrl: url, MessageBody: b, MessageGroupId: g });
      assert.match(r.SequenceNumber, /^\d+$/, 'SequenceNumber');
      if (seqs[g]) assert.ok(BigInt(r.SequenceNumber) > BigInt(seqs[g]), 'SequenceNumber increases within a group');
      seqs[g] = r.SequenceNumber;
    }
    // content-based duplicate (same body, within 5 min): accepted, not enqueued
    const dup = await send('SendMessage', { QueueUrl: url, MessageBody: 'a1', MessageGroupId: 'g1' });
    assert.match(dup.MessageId, /^[0-9a-f-]{36}$/);
    // explicit id wins over the content
    await send('SendMessage', { QueueUrl: url, MessageBody: 'x1', MessageGroupId: 'g3', MessageDeduplicationId: 'dedup-x' });
    await send('SendMessage', { QueueUrl: url, MessageBody: 'x2', MessageGroupId: 'g3', MessageDeduplicationId: 'dedup-x' });
    assert.equal(await count(url), 6, 'two duplicates were dropped');

    await expectError('FIFO send without MessageGroupId', send('SendMessage', { QueueUrl: url, MessageBody: 'no group' }),
      isErr(null, 'MissingParameter', 400));
    await expectError('FIFO send with DelaySeconds 5',
      send('SendMessage', { QueueUrl: url, MessageBody: 'late', MessageGroupId: 'g1', DelaySeconds: 5 }),
      isErr(null, 'InvalidParameterValue', 400));

    const got = await drain(url, 6, { AttributeNames: ['All'] });
    assert.equal(got.length, 6, 'all six messages');
    const byGroup = {};
    for (const m of got) (byGroup[m.Attributes.MessageGroupId] ||= []).push(m.Body);
    assert.deepEqual(byGroup, { g1: ['a1', 'a2', 'a3'], g2: ['b1', 'b2'], g3: ['x1'] }, 'order within each group');
    const a1 = got.find((m) => m.Body === 'a1');
    assert.equal(a1.Attributes.MessageDeduplicationId, sha256('a1'), 'content-based dedup id is the SHA-256 of the body');
    assert.match(a1.Attributes.SequenceNumber, /^\d+$/);
    assert.equal(got.find((m) => m.Body === 'x1').Attributes.MessageDeduplicationId, 'dedup-x');
    await send('DeleteMessageBatch', {
      QueueUrl: url, Entries: got.slice(0, 10).map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
    });
    assert.equal(await count(url, 'ApproximateNumberOfMessagesNotVisible'), 0);
  });

  await step('FIFO: ReceiveRequestAttemptId returns the same messages on retry', async () => {
    const url = (await send('CreateQueue', { QueueName: 'v3-attempt.fifo', Attributes: { FifoQueue: 'true' } })).QueueUrl;
    await send('SendMessageBatch', {
      QueueUrl: url,
      Entries: ['m1', 'm2', 'm3'].map((b) => ({ Id: b, MessageBody: b, MessageGroupId: 'g', MessageDeduplicationId: b })),
    });
    const first = await send('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 2, VisibilityTimeout: 30, ReceiveRequestAttemptId: 'attempt-1' });
    assert.deepEqual(first.Messages.map((m) => m.Body), ['m1', 'm2'], 'batch order kept');
    const retry = await send('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 2, VisibilityTimeout: 30, ReceiveRequestAttemptId: 'attempt-1' });
    assert.deepEqual(retry.Messages.map((m) => m.MessageId), first.Messages.map((m) => m.MessageId), 'same messages');
    assert.deepEqual(retry.Messages.map((m) => m.ReceiptHandle), first.Messages.map((m) => m.ReceiptHandle), 'same receipt handles');
    const other = await send('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, ReceiveRequestAttemptId: 'attempt-2' });
    assert.equal(other.Messages, undefined, 'the group is blocked while m1/m2 are in flight');
    await send('DeleteMessage', { QueueUrl: url, ReceiptHandle: first.Messages[0].ReceiptHandle });
    await send('DeleteMessage', { QueueUrl: url, ReceiptHandle: first.Messages[1].ReceiptHandle });
    const rest = await send('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10 });
    assert.deepEqual(rest.Messages.map((m) => m.Body), ['m3']);
  });

  await step('DLQ: RedrivePolicy moves a message on the receive after maxReceiveCount', async () => {
    await send('CreateQueue', { QueueName: 'v3-dlq' });
    const src = (await send('CreateQueue', {
      QueueName: 'v3-src',
      Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arnOf('v3-dlq'), maxReceiveCount: 1 }) },
    })).QueueUrl;
    const dlq = urlOf('v3-dlq');
    const sent = await send('SendMessage', { QueueUrl: src, MessageBody: 'poison' });
    const r1 = await send('ReceiveMessage', { QueueUrl: src, VisibilityTimeout: 0, AttributeNames: ['All'] });
    assert.equal(r1.Messages.length, 1);
    assert.equal(r1.Messages[0].Attributes.ApproximateReceiveCount, '1');
    const r2 = await send('ReceiveMessage', { QueueUrl: src, VisibilityTimeout: 0 });
    assert.equal(r2.Messages, undefined, 'the second receive moves it instead of delivering');
    assert.equal(await count(src), 0);
    const d = await send('ReceiveMessage', { QueueUrl: dlq, VisibilityTimeout: 0, AttributeNames: ['All'] });
    assert.equal(d.Messages.length, 1);
    const m = d.Messages[0];
    assert.equal(m.MessageId, sent.MessageId, 'same MessageId in the DLQ');
    assert.equal(m.Body, 'poison');
    assert.equal(m.Attributes.DeadLetterQueueSourceArn, arnOf('v3-src'));
    assert.equal(m.Attributes.ApproximateReceiveCount, '2', 'the receive count keeps counting');

    const ls = await send('ListDeadLetterSourceQueues', { QueueUrl: dlq });
    assert.deepEqual(ls.queueUrls, [src]);
    const lsNone = await send('ListDeadLetterSourceQueues', { QueueUrl: src });
    assert.deepEqual(lsNone.queueUrls || [], []);
  });

  await step('StartMessageMoveTask/ListMessageMoveTasks: redrive back to the source', async () => {
    const src = urlOf('v3-src');
    const dlq = urlOf('v3-dlq');
    await expectError('StartMessageMoveTask from a queue that is no DLQ',
      send('StartMessageMoveTask', { SourceArn: arnOf('v3-main') }), isErr(null, 'InvalidParameterValue', 400));
    const t = await send('StartMessageMoveTask', { SourceArn: arnOf('v3-dlq') });
    assert.ok(t.TaskHandle, 'TaskHandle');
    const done = await until('the move task to complete', async () => {
      const l = await send('ListMessageMoveTasks', { SourceArn: arnOf('v3-dlq'), MaxResults: 10 });
      const task = l.Results && l.Results[0];
      assert.ok(task, 'ListMessageMoveTasks lists the task');
      assert.ok(['RUNNING', 'COMPLETED'].includes(task.Status), `status ${task.Status} ${task.FailureReason || ''}`);
      return task.Status === 'COMPLETED' ? task : null;
    }, 15000, 200);
    assert.equal(done.SourceArn, arnOf('v3-dlq'));
    assert.equal(done.ApproximateNumberOfMessagesMoved, 1);
    assert.equal(done.ApproximateNumberOfMessagesToMove, 1);
    assert.equal(typeof done.StartedTimestamp, 'number');
    assert.equal(done.TaskHandle, undefined, 'no TaskHandle once COMPLETED');
    assert.equal(await count(dlq), 0);
    const back = await send('ReceiveMessage', { QueueUrl: src });
    assert.equal(back.Messages.length, 1);
    assert.equal(back.Messages[0].Body, 'poison');
    await send('DeleteMessage', { QueueUrl: src, ReceiptHandle: back.Messages[0].ReceiptHandle });
  });

  await step('CancelMessageMoveTask on a rate-limited running task', async () => {
    const dlq = urlOf('v3-dlq');
    const src = urlOf('v3-src');
    for (let i = 0; i < 3; i++) {
      await send('SendMessageBatch', {
        QueueUrl: dlq, Entries: Array.from({ length: 10 }, (_, j) => ({ Id: `e${j}`, MessageBody: `slow ${i}-${j}` })),
      });
    }
    assert.equal(await count(dlq), 30);
    const t = await send('StartMessageMoveTask', {
      SourceArn: arnOf('v3-dlq'), DestinationArn: arnOf('v3-src'), MaxNumberOfMessagesPerSecond: 1,
    });
    await expectError('a second task on the same source',
      send('StartMessageMoveTask', { SourceArn: arnOf('v3-dlq'), DestinationArn: arnOf('v3-src') }),
      isErr(null, 'InvalidParameterValue', 400));
    await sleep(1500);
    const l = await send('ListMessageMoveTasks', { SourceArn: arnOf('v3-dlq'), MaxResults: 10 });
    const running = l.Results[0];
    assert.equal(running.Status, 'RUNNING');
    assert.equal(running.TaskHandle, t.TaskHandle);
    assert.equal(running.DestinationArn, arnOf('v3-src'));
    assert.equal(running.MaxNumberOfMessagesPerSecond, 1);
    assert.equal(running.ApproximateNumberOfMessagesToMove, 30);
    assert.equal(l.Results.length, 2, 'the earlier completed task is listed too');
    const c = await send('CancelMessageMoveTask', { TaskHandle: t.TaskHandle });
    assert.equal(typeof c.ApproximateNumberOfMessagesMoved, 'number');
    assert.ok(c.ApproximateNumberOfMessagesMoved < 30, `moved ${c.ApproximateNumberOfMessagesMoved} of 30 before the cancel`);
    const cancelled = await until('the task to be CANCELLED', async () => {
      const x = (await send('ListMessageMoveTasks', { SourceArn: arnOf('v3-dlq') })).Results[0];
      assert.ok(['CANCELLING', 'CANCELLED'].includes(x.Status), `status ${x.Status}`);
      return x.Status === 'CANCELLED' ? x : null;
    }, 10000, 200);
    await sleep(1200); // a cancelled task moves nothing more
    const moved = await count(src);
    const left = await count(dlq);
    assert.equal(moved + left, 30, `nothing lost: ${moved} moved + ${left} left`);
    assert.ok(left >= 20, `most messages stay in the DLQ (${left})`);
    assert.ok(moved <= cancelled.ApproximateNumberOfMessagesMoved + 1, 'no moves after the cancel');
    await expectError('CancelMessageMoveTask with garbage', send('CancelMessageMoveTask', { TaskHandle: 'garbage' }),
      isErr(null, 'InvalidParameterValue', 400));
  });

  await step('long poll woken by a send from another process', async () => {
    const url = (await send('CreateQueue', { QueueName: 'v3-poll' })).QueueUrl;
    const sender = spawn(process.execPath, [path.join(__dirname, 'lib', 'send_later.js'), ep, url, 'wake-up', '300'],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((res) => sender.on('exit', (code) => res(code)));
    const t0 = Date.now();
    const r = await send('ReceiveMessage', { QueueUrl: url, WaitTimeSeconds: 10 });
    const took = Date.now() - t0;
    assert.equal(await exited, 0, 'the sender process succeeded');
    assert.ok(r.Messages && r.Messages.length === 1, 'the long poll returned the message');
    assert.equal(r.Messages[0].Body, 'wake-up');
    assert.ok(took >= 250, `the poll really waited for the other process (${took} ms)`);
    assert.ok(took < 5000, `woken well before the 10 s timeout (${took} ms)`);
    await send('DeleteMessage', { QueueUrl: url, ReceiptHandle: r.Messages[0].ReceiptHandle });
  });

  await step('long poll woken by the lmq CLI sending to the same home', async () => {
    const bin = process.env.LMQ_BIN;
    const home = process.env.LMQ_HOME;
    if (!bin || !home) {
      console.error('note: LMQ_BIN/LMQ_HOME not set; the CLI wake-up check did not run');
      return;
    }
    const url = urlOf('v3-poll');
    const t0 = Date.now();
    const timer = setTimeout(() => {
      spawn(bin, ['--home', home, 'send-message', '--queue-url', 'v3-poll', '--message-body', 'from the CLI'],
        { stdio: ['ignore', 'ignore', 'inherit'] });
    }, 300);
    const r = await send('ReceiveMessage', { QueueUrl: url, WaitTimeSeconds: 10 });
    clearTimeout(timer);
    const took = Date.now() - t0;
    assert.ok(r.Messages && r.Messages.length === 1, 'the long poll returned the CLI message');
    assert.equal(r.Messages[0].Body, 'from the CLI');
    assert.ok(took < 5000, `woken well before the timeout (${took} ms)`);
    await send('DeleteMessage', { QueueUrl: url, ReceiptHandle: r.Messages[0].ReceiptHandle });
  });

  await step('long poll on an empty queue waits out WaitTimeSeconds', async () => {
    const t0 = Date.now();
    const r = await send('ReceiveMessage', { QueueUrl: urlOf('v3-poll'), WaitTimeSeconds: 1 });
    const took = Date.now() - t0;
    assert.equal(r.Messages, undefined);
    assert.ok(took >= 950, `returned after ${took} ms, not before the 1 s wait`);
    assert.ok(took < 3000, `returned after ${took} ms, not long after the wait`);
  });

  await step('DeleteQueue', async () => {
    await send('DeleteQueue', { QueueUrl: mainUrl });
    await expectError('GetQueueUrl after DeleteQueue', send('GetQueueUrl', { QueueName: 'v3-main' }), NO_QUEUE);
    await expectError('SendMessage after DeleteQueue', send('SendMessage', { QueueUrl: mainUrl, MessageBody: 'x' }), NO_QUEUE);
    await expectError('DeleteQueue of a missing queue', send('DeleteQueue', { QueueUrl: mainUrl }), NO_QUEUE);
    await expectError('CreateQueue within 60 s of the delete', send('CreateQueue', { QueueName: 'v3-main' }),
      isErr('QueueDeletedRecently', 'AWS.SimpleQueueService.QueueDeletedRecently', 400));
    const l = await send('ListQueues', { QueueNamePrefix: 'v3-main' });
    assert.equal(l.QueueUrls, undefined, 'the deleted queue is not listed');
  });
}

run('v3', main);
