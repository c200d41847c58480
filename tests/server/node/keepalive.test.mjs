// Idle connections: both clients send HTTP/2 keepalive pings (every 10 s by
// default, `keepAliveInterval` in the connection string) whether or not a
// call is open, and KurrentDB accepts them. A server that counts them as
// abuse (gRPC's ping strikes) answers GOAWAY and kills open subscriptions
// with RESOURCE_EXHAUSTED. The interval is shortened here to keep the test
// short; the clients' default fails the same way after ~40 s.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  FLAVORS,
  HOOK,
  T,
  collect,
  collectSubscription,
  delay,
  describeError,
  once,
  startServer,
  uniqueStream,
} from './harness.mjs';

const PING_MS = 3_000;
// How long a client waits for a ping's answer before it drops the
// connection: the clients' default (10 s), not PING_MS, so a 2-core machine
// busy with other tests (a stalled client or server thread) is not taken
// for a dead server. Seen in CI with 3 s: UnavailableError on a read.
const PING_TIMEOUT_MS = 10_000;
const IDLE_MS = 20_000;

describe(`idle connections with keepalive pings every ${PING_MS} ms`, { concurrency: true }, () => {
  let server;
  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    if (server) await server.stop();
  }, HOOK);

  for (const flavor of FLAVORS) {
    it(`${flavor.name}: a subscription and the connection survive ${IDLE_MS / 1000} s of idle pings`, T, async () => {
      const { jsonEvent, START } = flavor.pkg;
      const client = flavor.connect(server, `&keepAliveInterval=${PING_MS}&keepAliveTimeout=${PING_TIMEOUT_MS}`);
      try {
        const stream = uniqueStream('idle');
        await client.appendToStream(stream, jsonEvent({ type: 'Before', data: {} }));
        assert.equal((await collect(client.readStream(stream))).length, 1);
        const subscription = client.subscribeToStream(stream, { fromRevision: START });
        const errors = [];
        subscription.on('error', (err) => errors.push(describeError(err)));
        const received = collectSubscription(subscription, { done: (events) => events.length >= 2, timeoutMs: IDLE_MS + 8_000 });
        await once(subscription, 'data');
        await delay(IDLE_MS);
        assert.deepEqual(errors, [], 'the idle subscription stays open');
        await client.appendToStream(stream, jsonEvent({ type: 'After', data: {} }));
        const events = await received;
        assert.deepEqual(
          events.map((e) => e.event.type),
          ['Before', 'After'],
        );
        assert.equal((await collect(client.readStream(stream))).length, 2, 'a read after the idle time works');
      } finally {
        await client.dispose();
      }
    });
  }
});
