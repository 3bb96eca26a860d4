#!/usr/bin/env node
// run-node.js: run a Node.js Lambda handler once, as `lmq consume --event
// lambda --exec` needs it: the event is read from stdin, the handler is
// loaded as Lambda loads it ("file.export", relative to the current
// directory), called with a minimal context, and its result is written to
// stdout as JSON (the function's response). Logs (console.*) go to stderr,
// as Lambda sends them to CloudWatch and not into the response. A handler
// that throws (or rejects) exits 1: a function error.
//
//   node run-node.js orders.handler < event.json
'use strict';

const path = require('path');

const spec = process.argv[2];
if (!spec || spec.lastIndexOf('.') < 1) {
  console.error('usage: node run-node.js FILE.EXPORT < event.json');
  process.exit(2);
}
const dot = spec.lastIndexOf('.');
const file = path.resolve(spec.slice(0, dot));
const name = spec.slice(dot + 1);

// stdout carries the response only.
for (const level of ['log', 'info', 'debug', 'trace']) {
  console[level] = console.error;
}

const deadline = Number(process.env.LMQ_DEADLINE_MS) ||
  Date.now() + 1000 * Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT || 3);
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME || 'lmq-local';
const context = {
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION || 'us-east-1'}` +
    `:000000000000:function:${functionName}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
  awsRequestId: process.env.LMQ_REQUEST_ID || '',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'local',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};

function fail(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  console.error(JSON.stringify({
    errorType: e.name, errorMessage: e.message,
    stackTrace: (e.stack || '').split('\n').slice(1).map((l) => l.trim()),
  }));
  process.exit(1);
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const handler = require(file)[name];
  if (typeof handler !== 'function') {
    throw new Error(`${spec} is not a function`);
  }
  // async handlers return a promise; callback handlers call back.
  const result = await (handler.length >= 3
    ? new Promise((resolve, reject) => {
      const r = handler(event, context, (err, res) => (err ? reject(err) : resolve(res)));
      if (r && typeof r.then === 'function') r.then(resolve, reject);
    })
    : handler(event, context));
  const out = JSON.stringify(result === undefined ? null : result);
  process.stdout.write(out, () => process.exit(0));
}

main().catch(fail);
