'use strict';
/* node send_later.js ENDPOINT QUEUE_URL BODY DELAY_MS: wait, then SendMessage
 * (a second process, to wake another process's long poll). */
const { SendMessageCommand } = require('@aws-sdk/client-sqs');
const { v3Client, sleep } = require('./common');

const [ep, url, body, delay] = process.argv.slice(2);
(async () => {
  const client = v3Client(ep);
  await sleep(Number(delay || 0));
  await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
})().then(() => process.exit(0), (e) => { console.error('send_later:', e); process.exit(1); });
