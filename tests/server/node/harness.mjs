// Shared pieces of the conformance suite: one `annals serve` per test file
// (fresh store directory, --port 0), and the two official Node clients,
// each described by a "flavor" so every test runs against both.
//
// One process loads one client (ANNALS_NODE_CLIENT=esdb or kurrent; run.sh
// runs the suite once per client): their generated protobuf code shares
// google-protobuf's global namespace, so with both loaded the one loaded
// first serializes BatchAppend with the other's message classes and fails
// ("getDeadline21100 is not a function") before anything is sent.
//
// ANNALS_BIN overrides the server binary; the default is the release build
// of this tree.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLIENT = process.env.ANNALS_NODE_CLIENT ?? 'esdb';
if (CLIENT !== 'esdb' && CLIENT !== 'kurrent') {
  throw new Error(`ANNALS_NODE_CLIENT must be esdb or kurrent, not ${CLIENT}`);
}
const esdb = CLIENT === 'esdb' ? await import('@eventstore/db-client') : null;
const kurrent = CLIENT === 'kurrent' ? await import('@kurrent/kurrentdb-client') : null;

const here = path.dirname(fileURLToPath(import.meta.url));

export const ANNALS_BIN =
  process.env.ANNALS_BIN ?? path.resolve(here, '../../../build-release/tools/annals');

// Per-test bound (node:test `timeout`): no test of the suite may wait longer.
export const TEST_TIMEOUT_MS = 30_000;
export const T = { timeout: TEST_TIMEOUT_MS };
export const HOOK = { timeout: 30_000 };

const STARTUP_TIMEOUT_MS = 20_000;
// The server's contract is an exit within 5 s of SIGTERM; a little slack
// for a loaded 2-core machine before we call it a failure.
const SHUTDOWN_TIMEOUT_MS = 7_000;
const LOG_TAIL_BYTES = 16 * 1024;

// Every server this process started, killed on exit if a test file dies
// before its after() hook ran (no orphan servers).
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

function keepTail(buffer, chunk) {
  const next = buffer + chunk;
  return next.length > LOG_TAIL_BYTES ? next.slice(next.length - LOG_TAIL_BYTES) : next;
}

// Starts `annals serve` on a fresh temporary store and resolves once it
// printed `listening on HOST:PORT`. `extraArgs` go after the required ones
// (e.g. ['--max-append-size', '1024']). Returns {host, port, stop(), log()}:
// stop() sends SIGTERM, waits (bounded) for the exit, asserts exit code 0
// and removes the store directory.
export async function startServer(extraArgs = [], { store: given } = {}) {
  // `given`: serve an existing store (another server may hold it for
  // writing); it is left in place.
  const dir = mkdtempSync(path.join(tmpdir(), 'annals-node-conf-'));
  const store = given ?? path.join(dir, 'store');
  const args = ['serve', '--store', store, '--port', '0', '--bind', '127.0.0.1', ...extraArgs];
  const child = spawn(ANNALS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);

  let stdout = '';
  let stderr = '';
  let exited = null; // {code, signal} once the process is gone
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = keepTail(stderr, chunk);
  });
  child.stdout.setEncoding('utf8');

  const log = () =>
    `annals ${args.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr (tail) ---\n${stderr}`;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  let listening;
  try {
    listening = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no 'listening on' line within ${STARTUP_TIMEOUT_MS} ms\n${log()}`));
      }, STARTUP_TIMEOUT_MS);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${ANNALS_BIN}: ${err.message}`));
      });
      exitPromise.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${signal}) before listening\n${log()}`));
      });
      child.stdout.on('data', (chunk) => {
        stdout = keepTail(stdout, chunk);
        const match = /^listening on (\S+):(\d+)\s*$/m.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve({ host: match[1], port: Number(match[2]) });
        }
      });
    });
  } catch (err) {
    if (!exited) child.kill('SIGKILL');
    await withTimeout(exitPromise, 2_000, () => null);
    cleanup();
    throw err;
  }
  // The contract is exactly one line; keep reading so a chatty server shows
  // up in log() rather than blocking on a full pipe.
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected exactly one stdout line before serving:\n${log()}`);

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    try {
      if (!exited) child.kill('SIGTERM');
      const started = Date.now();
      const result = await withTimeout(exitPromise, SHUTDOWN_TIMEOUT_MS, () => null);
      if (result === null) {
        child.kill('SIGKILL');
        await withTimeout(exitPromise, 2_000, () => null);
        assert.fail(`server did not exit within ${SHUTDOWN_TIMEOUT_MS} ms of SIGTERM\n${log()}`);
      }
      assert.equal(
        result.code,
        0,
        `server exit after SIGTERM: code ${result.code} signal ${result.signal} ` +
          `after ${Date.now() - started} ms\n${log()}`,
      );
    } finally {
      cleanup();
    }
  }
  return { ...listening, stop, log, pid: child.pid, store };
}

export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves like `promise`, or to `onTimeout()` after `ms`; the timer is
// cleared either way so nothing keeps the process alive afterwards.
export function withTimeout(promise, ms, onTimeout) {
  let timer;
  const bound = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

// The two official clients. connect(server, '&key=value...') adds
// connection-string settings. `appendState(s)` builds the options object
// that carries an expected state on appendToStream/setStreamMetadata
// (6.x calls it expectedRevision, 1.x streamState); delete and tombstone
// take expectedRevision in both (any, no_stream or a revision: neither
// client can send stream_exists there).
export const FLAVORS = [
  esdb && {
    name: '@eventstore/db-client 6.2.1',
    pkg: esdb,
    connect: ({ host, port }, query = '') =>
      esdb.EventStoreDBClient.connectionString(`esdb://${host}:${port}?tls=false${query}`),
    appendState: (state) => ({ expectedRevision: state }),
    // 6.2.1's readAll always sends no_filter (only subscribeToAll filters).
    readAllFilter: false,
    // Reads go through grpc-js as asked.
    startEndKeepDirection: true,
    // WrongExpectedVersionError's fields are expectedVersion/actualVersion in 6.x.
    versions: (err) => ({ expected: err.expectedVersion, actual: err.actualVersion }),
  },
  kurrent && {
    name: '@kurrent/kurrentdb-client 1.3.1',
    pkg: kurrent,
    connect: ({ host, port }, query = '') =>
      kurrent.KurrentDBClient.connectionString(`kurrentdb://${host}:${port}?tls=false${query}`),
    appendState: (state) => ({ streamState: state }),
    readAllFilter: true,
    // Reads go through the bundled Rust client, which sends START as a
    // forwards read and END as a backwards one whatever the direction asked
    // (seen on the wire), so "backwards from START" and "forwards from END"
    // cannot be asked of a server with it.
    startEndKeepDirection: false,
    // ...and expectedState/actualState in 1.x.
    versions: (err) => ({ expected: err.expectedState, actual: err.actualState }),
  },
].filter(Boolean);

let streamCounter = 0;
// A stream name unique within the process (servers are per file anyway).
export function uniqueStream(prefix = 'conf') {
  streamCounter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${streamCounter}`;
}

// Reads a whole stream/readAll iterable into an array (both clients return
// async iterables; the per-test timeout bounds the wait).
export async function collect(iterable) {
  const out = [];
  for await (const resolved of iterable) out.push(resolved);
  return out;
}

// A one-line description of a client error for assertion messages.
export function describeError(err) {
  if (!err) return String(err);
  const name = err.constructor?.name ?? 'Error';
  return `${name} type=${err.type} code=${err.code} message=${JSON.stringify(err.message)}`;
}

// Asserts that `promiseOrFn` rejects with an instance of `ErrorClass`,
// then runs `check(err)` for the details. Returns the error.
export async function expectError(promiseOrFn, ErrorClass, check = () => {}) {
  let caught;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${ErrorClass.name}, but the call succeeded`);
  assert.ok(
    caught instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${describeError(caught)}`,
  );
  check(caught);
  return caught;
}

// Collects events from a subscription until `done(events)` is true or the
// bound passes; rejects on a subscription error or on timeout (with what
// was seen so far). Unsubscribes before returning.
//
// The promise is marked handled, so a test may await it after other awaits
// without an unhandled rejection in between.
export function collectSubscription(subscription, { done, timeoutMs = 20_000, keep = () => true }) {
  return handled(new Promise((resolve, reject) => {
    const events = [];
    let finished = false;
    const finish = async (err) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      subscription.off('data', onData);
      try {
        await subscription.unsubscribe();
      } catch {
        // the call is over already
      }
      if (err) reject(err);
      else resolve(events);
    };
    const timer = setTimeout(() => {
      finish(new Error(`subscription: timeout after ${timeoutMs} ms with ${events.length} events`));
    }, timeoutMs);
    const onData = (resolved) => {
      if (!keep(resolved)) return;
      events.push(resolved);
      if (done(events)) finish();
    };
    subscription.on('data', onData);
    subscription.on('error', (err) => finish(new Error(`subscription error: ${describeError(err)}`)));
    subscription.on('end', () => {
      if (!finished) finish(new Error(`subscription ended early after ${events.length} events`));
    });
  }));
}

function handled(promise) {
  promise.catch(() => {});
  return promise;
}

// Waits (bounded) for a one-shot event on an emitter (marked handled, as
// above).
export function once(emitter, name, timeoutMs = 20_000) {
  return handled(new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, onEvent);
      reject(new Error(`no '${name}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(name, onEvent);
  }));
}

// Sets up one server for the whole file and, per flavor, a describe block
// with a connected client: body(ctx, flavor) where ctx.client and
// ctx.server are filled in by the hooks.
export function forEachClient(describe, before, after, serverArgs, body) {
  const shared = { server: null };
  before(async () => {
    shared.server = await startServer(serverArgs);
  }, HOOK);
  after(async () => {
    if (shared.server) await shared.server.stop();
  }, HOOK);
  for (const flavor of FLAVORS) {
    describe(flavor.name, () => {
      const ctx = {
        client: null,
        flavor,
        get server() {
          return shared.server;
        },
      };
      before(() => {
        ctx.client = flavor.connect(shared.server);
      }, HOOK);
      after(async () => {
        if (ctx.client) await ctx.client.dispose();
      }, HOOK);
      body(ctx, flavor);
    });
  }
}
