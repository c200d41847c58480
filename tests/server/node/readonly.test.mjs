// annals serve --read-only beside the process that writes the store (here a
// second `annals serve`, the "application"): both official clients read and
// subscribe through the read-only server, which follows the writer's commits
// live, and every write there gets the clients' NotLeaderError.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  FLAVORS,
  HOOK,
  T,
  collect,
  collectSubscription,
  expectError,
  startServer,
  uniqueStream,
} from './harness.mjs';

describe('--read-only beside a writer', () => {
  let writer;
  let reader;
  before(async () => {
    writer = await startServer();
    reader = await startServer(['--read-only'], { store: writer.store });
  }, HOOK);
  after(async () => {
    await reader?.stop();
    await writer?.stop();
  }, HOOK);

  for (const flavor of FLAVORS) {
    it(`${flavor.name} reads, follows and is refused writes`, T, async () => {
      const { jsonEvent, NotLeaderError, START } = flavor.pkg;
      const app = flavor.connect(writer);
      const client = flavor.connect(reader);
      try {
        const stream = uniqueStream('ro');
        await app.appendToStream(stream, [jsonEvent({ type: 'Before', data: { n: 0 } })]);
        // Caught up with what the writer committed (bounded: it refreshes often).
        let read = [];
        for (let i = 0; i < 100 && read.length === 0; i += 1) {
          read = await collect(client.readStream(stream)).catch(() => []);
          if (read.length === 0) await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(read.length, 1);
        // Live: a subscription on the read-only server sees the writer's next commits.
        const subscription = client.subscribeToStream(stream, { fromRevision: START });
        const collected = collectSubscription(subscription, {
          done: (events) => events.length >= 3,
          timeoutMs: 15_000,
        });
        await app.appendToStream(stream, [
          jsonEvent({ type: 'After', data: { n: 1 } }),
          jsonEvent({ type: 'After', data: { n: 2 } }),
        ]);
        const events = await collected;
        assert.deepEqual(
          events.map((e) => e.event.revision),
          [0n, 1n, 2n],
        );
        await expectError(
          () => client.appendToStream(stream, [jsonEvent({ type: 'Refused', data: {} })]),
          NotLeaderError,
        );
        assert.equal((await collect(app.readStream(stream))).length, 3, 'nothing written');
      } finally {
        await client.dispose();
        await app.dispose();
      }
    });
  }
});
