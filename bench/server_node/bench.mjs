// Throughput of `annals serve` through the official Node clients
// (@eventstore/db-client 6.2.1 and @kurrent/kurrentdb-client 1.3.1), on the
// shared/PERF.md workload: 2,000 streams order-00000..order-01999, event k
// to stream k % 2000 at revision k / 2000, 200-byte JSON payloads.
//
//   bash bench/server_node/run.sh build-release/tools/annals          # full
//   BENCH_EVENTS=20000 BENCH_SECONDS=2 BENCH_REPETITIONS=1 \
//     bash bench/server_node/run.sh build-release/tools/annals        # quick
//
// Every append case starts `annals serve --port 0` on a fresh store (the
// server is always durable: one fsync per commit); the read cases share one
// server loaded with the workload. Per case and client it prints events/s
// as the median of BENCH_REPETITIONS runs (default 3) and min..max, and the
// client's CPU time as a share of one core (near 100%: the Node client, not
// the server, sets the pace):
//  - append1-1:   one event per appendToStream, exact expected revision,
//                 one client, until BENCH_DURABLE_EVENTS (50,000) events or
//                 BENCH_SECONDS (10) s; compare embedded W1-durable
//  - append1-8:   the same with 8 clients at once, client w on the streams
//                 with stream % 8 == w; compare embedded W5
//  - append100:   one stream's 100 events per call, expected no_stream,
//                 with the same bound; compare embedded W2-durable
//  - readAll:     readAll forwards from the start, every event
//  - subscribe:   subscribeToAll from the start until every stored event
//                 arrived (target >= 100k events/s)
// The C++ cases (bench/server_bench.cc, `annals_bench
// --benchmark_filter=Server`) measure the embedded baselines in one run.
// Unlike those, the clients send an event id with every event, which the
// store indexes.
//
// Usage: node bench.mjs PATH_TO_ANNALS [--client esdb|kurrent]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';

const STREAMS = 2000;
const WRITERS = 8;
const envNumber = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const requestedEvents = envNumber('BENCH_EVENTS', 200_000);
// Whole rounds of the 2,000 streams, as the C++ workload.
const EVENTS = Math.max(STREAMS, requestedEvents - (requestedEvents % STREAMS));
const DURABLE_EVENTS = envNumber('BENCH_DURABLE_EVENTS', 50_000);
const DURABLE_SECONDS = envNumber('BENCH_SECONDS', 10);
const REPETITIONS = envNumber('BENCH_REPETITIONS', 3);
// No case (one repetition) may take longer than this.
const CASE_TIMEOUT_MS = 300_000;
const STARTUP_TIMEOUT_MS = 20_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

const args = process.argv.slice(2);
const annals = args[0] ? path.resolve(args[0]) : null;
if (!annals) {
  console.error('usage: node bench.mjs PATH_TO_ANNALS [--client esdb|kurrent]');
  process.exit(2);
}
const clientArg = args.indexOf('--client') >= 0 ? args[args.indexOf('--client') + 1] : null;
if (clientArg === null) {
  // One client per process: the two clients' generated protobuf code shares
  // google-protobuf's global namespace and breaks BatchAppend when both load.
  for (const key of ['esdb', 'kurrent']) {
    const child = spawn(process.execPath, [process.argv[1], annals, '--client', key, ...args.slice(1)], {
      stdio: 'inherit',
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    if (code !== 0) process.exit(code ?? 1);
  }
  process.exit(0);
}
const esdb = clientArg === 'esdb' ? await import('@eventstore/db-client') : null;
const kurrent = clientArg === 'kurrent' ? await import('@kurrent/kurrentdb-client') : null;

const CLIENTS = [
  esdb && {
    key: 'esdb',
    name: '@eventstore/db-client 6.2.1',
    pkg: esdb,
    connect: (server) =>
      esdb.EventStoreDBClient.connectionString(`esdb://${server.host}:${server.port}?tls=false`),
    expected: (state) => ({ expectedRevision: state }),
  },
  kurrent && {
    key: 'kurrent',
    name: '@kurrent/kurrentdb-client 1.3.1',
    pkg: kurrent,
    connect: (server) =>
      kurrent.KurrentDBClient.connectionString(
        `kurrentdb://${server.host}:${server.port}?tls=false`,
      ),
    expected: (state) => ({ streamState: state }),
  },
].filter(Boolean);
if (CLIENTS.length === 0) {
  console.error(`unknown --client ${clientArg} (esdb or kurrent)`);
  process.exit(2);
}

// ------------------------------------------------------------ the workload

function streamName(index) {
  return `order-${String(index).padStart(5, '0')}`;
}

const TYPES = ['ItemAdded', 'ItemRemoved', 'PriceChanged', 'NoteAdded'];

// Event k as the C++ workload builds it; `data` is the parsed payload, which
// jsonEvent serializes back to the same 200 bytes.
function workloadEvent(k) {
  const stream = k % STREAMS;
  const revision = Math.floor(k / STREAMS);
  const sku = String((k * 7919) % 1_000_000).padStart(6, '0');
  let json = `{"order":${stream},"revision":${revision},"sku":"SKU-${sku}","qty":${(k % 9) + 1},"note":"`;
  json += 'x'.repeat(200 - json.length - 2) + '"}';
  return { stream, revision, type: TYPES[revision % 4], data: JSON.parse(json) };
}

const WORKLOAD = Array.from({ length: EVENTS }, (_, k) => workloadEvent(k));
if (JSON.stringify(WORKLOAD[0].data).length !== 200) throw new Error('payload is not 200 bytes');

// ------------------------------------------------------------ the server

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function withTimeout(promise, ms, what) {
  let timer;
  const bound = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

// `annals serve` on a fresh store; resolves with {host, port, stop()} once
// it printed its `listening on HOST:PORT` line.
async function startServer() {
  const dir = mkdtempSync(path.join(tmpdir(), 'annals-node-bench-'));
  const child = spawn(
    annals,
    ['serve', '--store', path.join(dir, 'store'), '--port', '0', '--bind', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  exited.then(() => running.delete(child));
  const stop = async () => {
    child.kill('SIGTERM');
    await withTimeout(exited, SHUTDOWN_TIMEOUT_MS, 'annals serve exit').catch(() => {
      child.kill('SIGKILL');
    });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await withTimeout(
      new Promise((resolve, reject) => {
        let stdout = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk) => {
          stdout += chunk;
          const match = /^listening on (\S+):(\d+)\s*$/m.exec(stdout);
          if (match) resolve({ host: match[1], port: Number(match[2]) });
        });
        child.on('error', reject);
        exited.then((code) => reject(new Error(`annals serve exited (${code}): ${stderr}`)));
      }),
      STARTUP_TIMEOUT_MS,
      'annals serve start',
    );
    return { ...address, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ------------------------------------------------------------ the cases

// Wall-clock and this process's CPU time (the client's side) from start().
function startTimer() {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}
// {rate: events/s, clientCpu: the client's CPU time as a share of one core}.
function result(timer, events) {
  const seconds = (performance.now() - timer.wall) / 1000;
  const cpu = process.cpuUsage(timer.cpu);
  return { rate: events / seconds, clientCpu: (cpu.user + cpu.system) / 1e6 / seconds };
}

function expectedFor(client, event) {
  const { NO_STREAM } = client.pkg;
  return client.expected(event.revision === 0 ? NO_STREAM : BigInt(event.revision - 1));
}

// One event per call in workload order, `writers` clients at once (writer
// w takes the streams with stream % writers == w), until DURABLE_EVENTS or
// DURABLE_SECONDS. Events/s.
async function appendOne(client, writers) {
  const server = await startServer();
  const connections = Array.from({ length: writers }, () => client.connect(server));
  try {
    const limit = Math.min(DURABLE_EVENTS, EVENTS);
    let done = 0;
    let stop = false;
    const timer = startTimer();
    const deadline = timer.wall + DURABLE_SECONDS * 1000;
    const writer = async (w) => {
      const connection = connections[w];
      for (const event of WORKLOAD) {
        if (stop) return;
        if (event.stream % writers !== w) continue;
        await connection.appendToStream(
          streamName(event.stream),
          client.pkg.jsonEvent({ type: event.type, data: event.data }),
          expectedFor(client, event),
        );
        done += 1;
        if (done >= limit || performance.now() >= deadline) stop = true;
      }
    };
    await Promise.all(connections.map((_, w) => writer(w)));
    return result(timer, done);
  } finally {
    await Promise.all(connections.map((c) => c.dispose()));
    await server.stop();
  }
}

// One stream's whole history per call, expected no_stream, until
// DURABLE_EVENTS or DURABLE_SECONDS; the events are built before timing.
// Events/s.
async function appendHundred(client) {
  const server = await startServer();
  const connection = client.connect(server);
  try {
    const calls = Array.from({ length: STREAMS }, () => []);
    for (const event of WORKLOAD) {
      calls[event.stream].push(client.pkg.jsonEvent({ type: event.type, data: event.data }));
    }
    const noStream = client.expected(client.pkg.NO_STREAM);
    const limit = Math.min(DURABLE_EVENTS, EVENTS);
    let done = 0;
    const timer = startTimer();
    const deadline = timer.wall + DURABLE_SECONDS * 1000;
    for (let s = 0; s < STREAMS && done < limit && performance.now() < deadline; s += 1) {
      await connection.appendToStream(streamName(s), calls[s], noStream);
      done += calls[s].length;
    }
    return result(timer, done);
  } finally {
    await connection.dispose();
    await server.stop();
  }
}

// The server the read cases share: the workload appended 100 per call.
async function loadedServer() {
  const server = await startServer();
  const connection = CLIENTS[0].connect(server);
  try {
    const { jsonEvent } = CLIENTS[0].pkg;
    const calls = Array.from({ length: STREAMS }, () => []);
    for (const event of WORKLOAD) {
      calls[event.stream].push(jsonEvent({ type: event.type, data: event.data }));
    }
    for (let s = 0; s < STREAMS; s += 1) {
      await connection.appendToStream(
        streamName(s),
        calls[s],
        CLIENTS[0].expected(CLIENTS[0].pkg.NO_STREAM),
      );
    }
  } finally {
    await connection.dispose();
  }
  return server;
}

// Every event of $all, forwards from the start (the store's own `$settings`
// event too). Events/s; `count` receives how many.
async function readAll(client, server, count) {
  const connection = client.connect(server);
  try {
    let events = 0;
    const timer = startTimer();
    for await (const resolved of connection.readAll({
      fromPosition: client.pkg.START,
      direction: client.pkg.FORWARDS,
    })) {
      if (resolved.event) events += 1;
    }
    const measured = result(timer, events);
    if (events < EVENTS) throw new Error(`readAll returned ${events} of ${EVENTS}+ events`);
    count.events = events;
    return measured;
  } finally {
    await connection.dispose();
  }
}

// subscribeToAll from the start until `total` events arrived. Events/s.
async function subscribe(client, server, total) {
  const connection = client.connect(server);
  try {
    let events = 0;
    const timer = startTimer();
    const subscription = connection.subscribeToAll({ fromPosition: client.pkg.START });
    for await (const resolved of subscription) {
      if (resolved.event) events += 1;
      if (events >= total) break;
    }
    const measured = result(timer, events);
    await subscription.unsubscribe().catch(() => {});
    if (events < total) throw new Error(`the subscription ended after ${events} of ${total}`);
    return measured;
  } finally {
    await connection.dispose();
  }
}

// ------------------------------------------------------------ report

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const rows = [];
async function measure(name, client, run) {
  const rates = [];
  const cpus = [];
  for (let r = 0; r < REPETITIONS; r += 1) {
    const { rate, clientCpu } = await withTimeout(run(), CASE_TIMEOUT_MS, `${name} (${client.key})`);
    rates.push(rate);
    cpus.push(clientCpu);
    console.error(
      `${name} ${client.key} #${r + 1}: ${Math.round(rate)} events/s, client CPU ` +
        `${Math.round(clientCpu * 100)}%`,
    );
  }
  rows.push({
    name,
    client: client.name,
    median: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    clientCpu: median(cpus),
  });
}

async function main() {
  console.log(
    `machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown'}; node ${process.version}`,
  );
  console.log(
    `workload: ${EVENTS} events; durable cases until ${DURABLE_EVENTS} events or ` +
      `${DURABLE_SECONDS} s; ${REPETITIONS} repetitions; server ${annals}`,
  );
  for (const client of CLIENTS) {
    await measure('append1-1', client, () => appendOne(client, 1));
    await measure(`append1-${WRITERS}`, client, () => appendOne(client, WRITERS));
    await measure('append100', client, () => appendHundred(client));
  }
  const server = await loadedServer();
  try {
    for (const client of CLIENTS) {
      const count = { events: EVENTS };
      await measure('readAll', client, () => readAll(client, server, count));
      await measure('subscribe', client, () => subscribe(client, server, count.events));
    }
  } finally {
    await server.stop();
  }
  console.log('\n| case | client | events/s (median) | min..max | client CPU (median) |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const row of rows) {
    const r = (x) => Math.round(x).toLocaleString('en-US');
    console.log(
      `| ${row.name} | ${row.client} | ${r(row.median)} | ${r(row.min)}..${r(row.max)} | ` +
        `${Math.round(row.clientCpu * 100)}% |`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
