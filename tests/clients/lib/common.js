'use strict';
/*
 * Helpers shared by the Node client scenarios (tests/clients/*.js).
 *
 * Every scenario takes the lmqd endpoint as argv[2] or $LMQ_ENDPOINT, exits 0
 * when every assertion held, and otherwise prints what failed (the step, the
 * request, what was expected and what came back) and exits 1.
 */
const assert = require('node:assert/strict');

// Keep the clients' own notices (Node 22 announcement, v2 maintenance mode)
// out of the test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ||= '1';

const crypto = require('node:crypto');

function endpoint() {
  const ep = process.argv[2] || process.env.LMQ_ENDPOINT;
  if (!ep) {
    console.error('usage: node ' + process.argv[1] + ' http://127.0.0.1:PORT (or set LMQ_ENDPOINT)');
    process.exit(2);
  }
  return ep.replace(/\/+$/, '');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

let currentStep = '(start)';
const log = (...a) => { if (process.env.LMQ_TEST_VERBOSE) console.error(...a); };

/* Run one named step; the name is printed if anything in it fails. */
async function step(name, fn) {
  currentStep = name;
  log('--', name);
  const t0 = Date.now();
  await fn();
  log('   ok', name, `${Date.now() - t0} ms`);
}

/* Await a promise that must reject; check the error with check(e). Returns it. */
async function expectError(what, promise, check) {
  let res;
  try {
    res = await promise;
  } catch (e) {
    try {
      check(e);
    } catch (ae) {
      ae.message = `${what}: wrong error: ${ae.message}\n  got error: ${describeError(e)}`;
      throw ae;
    }
    return e;
  }
  throw new assert.AssertionError({
    message: `${what}: expected an error, got success: ${JSON.stringify(strip(res))}`,
  });
}

function strip(res) {
  if (res && typeof res === 'object' && '$metadata' in res) {
    const { $metadata, ...rest } = res;
    return rest;
  }
  return res;
}

function describeError(e) {
  if (!e) return String(e);
  const meta = e.$metadata ? ` http=${e.$metadata.httpStatusCode}` : '';
  const v2 = e.statusCode !== undefined ? ` statusCode=${e.statusCode}` : '';
  return `name=${e.name} Code=${e.Code} code=${e.code} Type=${e.Type}${meta}${v2} message=${JSON.stringify(e.message)}`;
}

/* Poll fn() until it returns a truthy value, at most timeoutMs. */
async function until(what, fn, timeoutMs = 10000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` });
    await sleep(everyMs);
  }
}

/* MD5OfMessageAttributes as SQS computes it (SQS-SEMANTICS.md §3.4). */
function md5OfAttributes(attrs) {
  const parts = [];
  const len32 = (b) => { const x = Buffer.alloc(4); x.writeUInt32BE(b.length); return x; };
  for (const name of Object.keys(attrs).sort()) {
    const a = attrs[name];
    const n = Buffer.from(name, 'utf8');
    const t = Buffer.from(a.DataType, 'utf8');
    parts.push(len32(n), n, len32(t), t);
    if (a.DataType.startsWith('Binary')) {
      const v = Buffer.from(a.BinaryValue);
      parts.push(Buffer.from([2]), len32(v), v);
    } else {
      const v = Buffer.from(a.StringValue, 'utf8');
      parts.push(Buffer.from([1]), len32(v), v);
    }
  }
  return md5(Buffer.concat(parts));
}

const clientEnvCreds = () => ({
  accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'test',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'test',
});

/* A JS v3 SQSClient pointed at lmqd. */
function v3Client(ep, extra = {}) {
  const { SQSClient } = require('@aws-sdk/client-sqs');
  return new SQSClient({
    endpoint: ep,
    region: process.env.AWS_REGION || 'us-east-1',
    credentials: clientEnvCreds(),
    maxAttempts: 1,
    ...extra,
  });
}

/* Run main(); report and exit non-zero on failure. */
function run(name, main) {
  const t0 = Date.now();
  const guard = setTimeout(() => {
    console.error(`${name}: FAIL: still running after ${process.env.LMQ_SCENARIO_TIMEOUT_MS || 100000} ms at step "${currentStep}"`);
    process.exit(1);
  }, Number(process.env.LMQ_SCENARIO_TIMEOUT_MS || 100000));
  guard.unref();
  main().then(
    () => {
      console.log(`${name}: ok (${Date.now() - t0} ms)`);
      process.exit(0);
    },
    (e) => {
      console.error(`${name}: FAIL at step "${currentStep}"`);
      if (e instanceof assert.AssertionError) {
        console.error(e.message);
        console.error(e.stack.split('\n').filter((l) => l.includes('/tests/clients/')).slice(0, 4).join('\n'));
      } else {
        console.error('unexpected error: ' + describeError(e));
        console.error(e && e.stack);
      }
      process.exit(1);
    });
}

module.exports = {
  assert, endpoint, sleep, md5, sha256, step, expectError, describeError, until,
  md5OfAttributes, v3Client, run, strip, log,
};
