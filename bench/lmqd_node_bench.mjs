// lmqd_node_bench.mjs: the Node side of bench/lmqd-compare (issue 21).
//
//   node bench/lmqd_node_bench.mjs serve-fauxqs PORT
//       Start fauxqs (bench/node, pinned) on PORT (it binds 0.0.0.0) without its
//       request log and print "fauxqs ready http://127.0.0.1:PORT" once it
//       listens: the same readiness line as lmqd, so lmqd-bench can start,
//       time and stop either one.
//   node bench/lmqd_node_bench.mjs run URL [--workload send|recv]
//       [--conns N] [--secs S] [--prefill N] [--label NAME]
//       The AWS SDK v3 client (@aws-sdk/client-sqs, bench/node) against URL:
//       `send` is SendMessage (100-byte body) from N concurrent callers on
//       N keep-alive sockets; `recv` fills a queue with SendMessageBatch,
//       then N callers ReceiveMessage (up to 10) + DeleteMessageBatch until
//       it is empty or S seconds pass. One JSON line per result on stdout,
//       in lmqd-bench's format with "client":"node-sdk".
//
// The modules are loaded from bench/node/node_modules (`npm ci --prefix
// bench/node`), or from $LMQ_BENCH_NODE_MODULES.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import http from "node:http";

const here = dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.LMQ_BENCH_NODE_MODULES || join(here, "node", "node_modules");
const require = createRequire(join(modules, "..", "package.json"));

function opts(argv) {
  const o = { workload: "send", conns: 1, secs: 2, prefill: 50000, label: "" };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, "");
    if (k in o) o[k] = typeof o[k] === "number" ? Number(argv[++i]) : argv[++i];
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

async function serveFauxqs(port) {
  const { startFauxqs } = await import(
    pathToFileURL(join(modules, "fauxqs", "dist", "app.js")).href
  );
  const server = await startFauxqs({
    port: Number(port),
    logger: false,
  });
  const stop = async () => {
    await server.stop?.();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(`fauxqs ready http://127.0.0.1:${port}\n`);
}

const body = Array.from({ length: 100 }, (_, i) =>
  String.fromCharCode(97 + (i % 26)),
).join("");

async function run(url, o) {
  const sqs = require("@aws-sdk/client-sqs");
  const client = new sqs.SQSClient({
    endpoint: url,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
    requestHandler: {
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: o.conns + 16 }),
    },
  });
  const name = `node-${o.workload}-${o.conns}-${process.pid}`;
  const { QueueUrl } = await client.send(
    new sqs.CreateQueueCommand({ QueueName: name }),
  );
  const emit = (workload, value, unit, extra) => {
    const r = {
      server: o.label,
      mode: "",
      client: "node-sdk",
      workload,
      conns: o.conns,
      value,
      unit,
      ...extra,
    };
    process.stdout.write(JSON.stringify(r) + "\n");
    process.stderr.write(
      `node-sdk ${o.label} ${workload} ${o.conns} conns ${value.toFixed(1)} ${unit}\n`,
    );
  };
  const cpu0 = process.cpuUsage();
  let errors = 0;
  if (o.workload === "send") {
    let done = 0;
    // A short warm-up opens the sockets.
    for (const secs of [0.2, o.secs]) {
      done = 0;
      const t0 = performance.now();
      const end = t0 + secs * 1000;
      await Promise.all(
        Array.from({ length: o.conns }, async () => {
          while (performance.now() < end) {
            try {
              await client.send(
                new sqs.SendMessageCommand({ QueueUrl, MessageBody: body }),
              );
              done++;
            } catch {
              errors++;
            }
          }
        }),
      );
      if (secs === o.secs) {
        const el = (performance.now() - t0) / 1000;
        const c = process.cpuUsage(cpu0);
        emit("send", done / el, "req/s", {
          requests: done,
          errors,
          client_cpu: (c.user + c.system) / 1e6 / el,
        });
      }
    }
  } else {
    let left = o.prefill;
    const tf = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left > 0) {
          const k = Math.min(10, left);
          left -= k;
          const Entries = Array.from({ length: k }, (_, i) => ({
            Id: String(i),
            MessageBody: body,
          }));
          await client.send(new sqs.SendMessageBatchCommand({ QueueUrl, Entries }));
        }
      }),
    );
    const fillRate = o.prefill / ((performance.now() - tf) / 1000);
    let got = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + o.secs * 1000;
    await Promise.all(
      Array.from({ length: o.conns }, async () => {
        while (performance.now() < end) {
          const r = await client.send(
            new sqs.ReceiveMessageCommand({
              QueueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 0,
            }),
          );
          const ms = r.Messages || [];
          if (ms.length === 0) break;
          const d = await client.send(
            new sqs.DeleteMessageBatchCommand({
              QueueUrl,
              Entries: ms.map((m, i) => ({
                Id: String(i),
                ReceiptHandle: m.ReceiptHandle,
              })),
            }),
          );
          if (d.Failed && d.Failed.length) errors += d.Failed.length;
          got += ms.length - (d.Failed ? d.Failed.length : 0);
        }
      }),
    );
    const el = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    emit("recv", got / el, "msg/s", {
      messages: got,
      errors,
      prefill: o.prefill,
      fill_msg_s: Math.round(fillRate),
      client_cpu: (c.user + c.system) / 1e6 / el,
    });
  }
  client.destroy();
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "serve-fauxqs") {
  await serveFauxqs(rest[0] || "4566");
} else if (cmd === "run") {
  await run(rest[0], opts(rest.slice(1)));
} else {
  process.stderr.write(
    "usage: lmqd_node_bench.mjs serve-fauxqs PORT | run URL [options]\n",
  );
  process.exit(2);
}
