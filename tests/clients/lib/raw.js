'use strict';
/* Raw HTTP requests to lmqd, optionally SigV4-signed with @smithy/signature-v4
 * (the signer the JS SDK itself uses). */
const http = require('node:http');
const crypto = require('node:crypto');
const { SignatureV4 } = require('@smithy/signature-v4');

/* The hash constructor SignatureV4 wants, on node:crypto. */
class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) : crypto.createHash('sha256');
  }
  update(d) { this.h.update(typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

/* POST body to ep+path; resolves {status, headers, body (string)}. */
function request(ep, { method = 'POST', path = '/', headers = {}, body = '' } = {}) {
  const u = new URL(ep);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}

/* A JSON-protocol request for action with input; signed when creds given. */
async function jsonRequest(ep, action, input, { creds, signingDate, region = 'us-east-1', tamper } = {}) {
  const u = new URL(ep);
  const body = JSON.stringify(input);
  let headers = {
    host: u.host,
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': `AmazonSQS.${action}`,
    'content-length': String(Buffer.byteLength(body)),
  };
  if (creds) {
    const signer = new SignatureV4({ credentials: creds, region, service: 'sqs', sha256: Sha256, applyChecksum: false });
    const signed = await signer.sign({
      method: 'POST', protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: '/', query: {}, headers, body,
    }, signingDate ? { signingDate } : {});
    headers = signed.headers;
  }
  return request(ep, { headers, body: tamper ? tamper(body) : body });
}

/* Parse a JSON error body; returns the shape name after '#' (or ''). */
function errType(res) {
  try {
    const j = JSON.parse(res.body);
    return String(j.__type || '').split('#').pop();
  } catch (e) {
    return '';
  }
}

module.exports = { Sha256, request, jsonRequest, errType };
