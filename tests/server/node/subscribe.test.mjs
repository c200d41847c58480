// Catch-up subscriptions through both official clients: the switch from
// catch-up to live without gap or duplicate, exclusive starting points,
// filters with checkpoints, unsubscribe, and server shutdown.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  FLAVORS,
  HOOK,
  T,
  collect,
  collectSubscription,
  describeError,
  forEachClient,
  once,
  startServer,
  uniqueStream,
  withTimeout,
} from './harness.mjs';

const BEFORE = 200;
const DURING = 200;
const BATCH = 10;

forEachClient(describe, before, after, [], (ctx, flavor) => {
  const { pkg } = flavor;
  const { START, END, jsonEvent, streamNameFilter, eventTypeFilter } = pkg;
  const tag = flavor.name.startsWith('@eventstore') ? 'esdb' : 'kdb';
  const numbered = (from, count, type = 'Sub') =>
    Array.from({ length: count }, (_, i) => jsonEvent({ type, data: { n: from + i } }));

  // Appends `total` events to `pick(i)`'s stream in batches of BATCH,
  // one append after another; returns the ids in write order.
  async function appendInBatches(pick, from, total, type = 'Sub') {
    const ids = [];
    for (let i = from; i < from + total; i += BATCH) {
      const events = numbered(i, BATCH, type);
      await ctx.client.appendToStream(pick(i / BATCH), events);
      ids.push(...events.map((e) => e.id));
    }
    return ids;
  }

  it('subscribeToStream from START: catch-up then live, every event once, in order', T, async () => {
    const stream = uniqueStream(`sub${tag}`);
    await appendInBatches(() => stream, 0, BEFORE);
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: START });
    const received = collectSubscription(subscription, { done: (events) => events.length >= BEFORE + DURING });
    // A second connection writes while the first one catches up.
    const writer = flavor.connect(ctx.server);
    try {
      for (let i = BEFORE; i < BEFORE + DURING; i += BATCH) {
        await writer.appendToStream(stream, numbered(i, BATCH));
      }
      const events = await received;
      assert.deepEqual(
        events.map((e) => e.event.revision),
        Array.from({ length: BEFORE + DURING }, (_, i) => BigInt(i)),
      );
      assert.deepEqual(
        events.map((e) => e.event.data.n),
        Array.from({ length: BEFORE + DURING }, (_, i) => i),
      );
    } finally {
      await writer.dispose();
    }
  });

  it('subscribeToAll from START: our events once, in order, across catch-up and live', T, async () => {
    const prefix = `suball${tag}-${uniqueStream('p')}-`;
    const streams = [`${prefix}x`, `${prefix}y`];
    const writtenBefore = await appendInBatches((k) => streams[k % 2], 0, BEFORE);
    const subscription = ctx.client.subscribeToAll({ fromPosition: START });
    const received = collectSubscription(subscription, {
      keep: (e) => e.event?.streamId.startsWith(prefix),
      done: (events) => events.length >= BEFORE + DURING,
    });
    const writer = flavor.connect(ctx.server);
    try {
      const writtenDuring = [];
      for (let i = BEFORE; i < BEFORE + DURING; i += BATCH) {
        const events = numbered(i, BATCH);
        await writer.appendToStream(streams[(i / BATCH) % 2], events);
        writtenDuring.push(...events.map((e) => e.id));
      }
      const events = await received;
      assert.deepEqual(
        events.map((e) => e.event.id),
        [...writtenBefore, ...writtenDuring],
      );
      for (let i = 1; i < events.length; i += 1) {
        assert.ok(events[i].event.position.commit > events[i - 1].event.position.commit, `position grows at ${i}`);
      }
    } finally {
      await writer.dispose();
    }
  });

  // caught_up (KurrentDB sends it to every subscription; both clients emit
  // 'caughtUp'): after the catch-up events, before the live ones.
  async function checkCaughtUp(subscription, append, keep) {
    const order = [];
    subscription.on('caughtUp', () => order.push('caughtUp'));
    const received = collectSubscription(subscription, {
      keep,
      done: (events) => {
        order.push('event');
        return events.length >= 4;
      },
    });
    try {
      await once(subscription, 'caughtUp', 5_000);
      await append();
      await received;
    } finally {
      await subscription.unsubscribe();
    }
    assert.deepEqual(order, ['event', 'event', 'caughtUp', 'event', 'event']);
  }

  it('subscribeToStream signals caughtUp between catch-up and live', T, async () => {
    const stream = uniqueStream(`subcu${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 2));
    await checkCaughtUp(
      ctx.client.subscribeToStream(stream, { fromRevision: START }),
      () => ctx.client.appendToStream(stream, numbered(2, 2)),
      () => true,
    );
  });

  it('subscribeToAll signals caughtUp between catch-up and live', T, async () => {
    const stream = uniqueStream(`subcuall${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 2));
    await checkCaughtUp(
      ctx.client.subscribeToAll({ fromPosition: START }),
      () => ctx.client.appendToStream(stream, numbered(2, 2)),
      (e) => e.event?.streamId === stream,
    );
  });

  it('subscribeToAll includes the server\'s system events from START', T, async () => {
    const subscription = ctx.client.subscribeToAll({ fromPosition: START });
    const events = await collectSubscription(subscription, {
      keep: (e) => e.event?.streamId.startsWith('$'),
      done: (seen) => seen.length >= 1,
      timeoutMs: 10_000,
    });
    assert.ok(events[0].event.streamId.startsWith('$'));
  });

  it('subscribeToStream fromRevision is exclusive', T, async () => {
    const stream = uniqueStream(`subrev${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 10));
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: 4n });
    const received = collectSubscription(subscription, { done: (events) => events.length >= 6 });
    await once(subscription, 'confirmation');
    await ctx.client.appendToStream(stream, numbered(10, 1));
    const events = await received;
    assert.deepEqual(
      events.map((e) => e.event.revision),
      [5n, 6n, 7n, 8n, 9n, 10n],
    );
  });

  it('subscribeToStream from END sees only new events', T, async () => {
    const stream = uniqueStream(`subend${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 3));
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: END });
    const received = collectSubscription(subscription, { done: (events) => events.length >= 2 });
    await once(subscription, 'confirmation');
    await ctx.client.appendToStream(stream, numbered(3, 2));
    const events = await received;
    assert.deepEqual(
      events.map((e) => e.event.revision),
      [3n, 4n],
    );
  });

  it('subscribeToStream on a stream created later waits for it', T, async () => {
    const stream = uniqueStream(`sublater${tag}`);
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: START });
    const received = collectSubscription(subscription, { done: (events) => events.length >= 3 });
    await once(subscription, 'confirmation');
    await ctx.client.appendToStream(stream, numbered(0, 3));
    const events = await received;
    assert.deepEqual(
      events.map((e) => e.event.revision),
      [0n, 1n, 2n],
    );
  });

  it('subscribeToAll fromPosition is exclusive', T, async () => {
    const prefix = `subpos${tag}-${uniqueStream('p')}-`;
    const stream = `${prefix}s`;
    await ctx.client.appendToStream(stream, numbered(0, 10));
    const ours = await collect(ctx.client.readStream(stream));
    const pivot = ours[4].event.position;
    const subscription = ctx.client.subscribeToAll({ fromPosition: pivot });
    let first;
    const received = collectSubscription(subscription, {
      keep: (e) => {
        first ??= e;
        return e.event?.streamId.startsWith(prefix);
      },
      done: (events) => events.length >= 5,
    });
    const events = await received;
    assert.deepEqual(
      events.map((e) => e.event.id),
      ours.slice(5).map((e) => e.event.id),
    );
    assert.ok(first.event.position.commit > pivot.commit, 'nothing at or before the start position');
  });

  it('filtered subscribeToAll: only matching events, and checkpoints while it skips', T, async () => {
    const prefix = `subflt${tag}-${uniqueStream('p')}-`;
    const checkpoints = [];
    const subscription = ctx.client.subscribeToAll({
      fromPosition: END,
      filter: streamNameFilter({
        prefixes: [prefix],
        checkpointInterval: 1,
        checkpointReached: (_subscription, position) => {
          checkpoints.push(position);
        },
      }),
    });
    const received = collectSubscription(subscription, { done: (events) => events.length >= 3 });
    await once(subscription, 'confirmation');
    const noise = uniqueStream(`noise${tag}`);
    const wanted = [];
    // 3 matching events among 300 that do not match.
    for (let round = 0; round < 3; round += 1) {
      for (let k = 0; k < 10; k += 1) await ctx.client.appendToStream(noise, numbered(0, 10, 'Noise'));
      const match = jsonEvent({ type: 'Match', data: { round } });
      await ctx.client.appendToStream(`${prefix}${round}`, match);
      wanted.push(match.id);
    }
    const events = await received;
    assert.deepEqual(
      events.map((e) => e.event.id),
      wanted,
    );
    assert.ok(checkpoints.length >= 1, `a checkpoint while 300 events were filtered out (got ${checkpoints.length})`);
    for (let i = 1; i < checkpoints.length; i += 1) {
      assert.ok(checkpoints[i].commit >= checkpoints[i - 1].commit, 'checkpoints do not go back');
    }
    const last = events.at(-1).event.position;
    for (const c of checkpoints) {
      assert.equal(typeof c.commit, 'bigint');
      assert.ok(c.commit <= last.commit, 'a checkpoint is a position the subscription reached');
    }
    assert.ok(
      checkpoints.some((c) => c.commit < last.commit),
      'a checkpoint arrived while the filter skipped, before the last match',
    );
  });

  it('filtered subscribeToAll on event type regex from START', T, async () => {
    const type = `Rx${tag}${Date.now().toString(36)}`;
    const stream = uniqueStream(`subtype${tag}`);
    const events = [
      jsonEvent({ type: `${type}Yes`, data: {} }),
      jsonEvent({ type: `${type}No`, data: {} }),
      jsonEvent({ type: `${type}Yes`, data: {} }),
    ];
    await ctx.client.appendToStream(stream, events);
    const subscription = ctx.client.subscribeToAll({
      fromPosition: START,
      filter: eventTypeFilter({ regex: `^${type}Yes$` }),
    });
    const got = await collectSubscription(subscription, { done: (seen) => seen.length >= 2 });
    assert.deepEqual(
      got.map((e) => e.event.id),
      [events[0].id, events[2].id],
    );
  });

  it('unsubscribe ends the subscription cleanly and the connection stays usable', T, async () => {
    const stream = uniqueStream(`unsub${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 20));
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: START });
    const ended = once(subscription, 'end', 10_000);
    const seen = [];
    const loop = (async () => {
      for await (const resolved of subscription) {
        seen.push(resolved);
        if (seen.length === 5) await subscription.unsubscribe();
      }
    })();
    await withTimeout(loop, 10_000, () => {
      throw new Error(`the iteration did not end within 10 s of unsubscribe (saw ${seen.length})`);
    });
    await ended;
    assert.ok(seen.length >= 5);
    assert.deepEqual(
      seen.map((e) => e.event.revision),
      Array.from({ length: seen.length }, (_, i) => BigInt(i)),
    );
    const result = await ctx.client.appendToStream(stream, numbered(20, 1));
    assert.equal(result.nextExpectedRevision, 20n);
    // Many short-lived subscriptions leave nothing behind on the server.
    for (let i = 0; i < 20; i += 1) {
      const s = ctx.client.subscribeToStream(stream, { fromRevision: START });
      await collectSubscription(s, { done: (events) => events.length >= 1, timeoutMs: 5_000 });
    }
    assert.equal((await collect(ctx.client.readStream(stream))).length, 21);
  });

  it('subscribing to a tombstoned stream is StreamDeletedError', T, async () => {
    const stream = uniqueStream(`subdead${tag}`);
    await ctx.client.appendToStream(stream, numbered(0, 1));
    await ctx.client.tombstoneStream(stream);
    const subscription = ctx.client.subscribeToStream(stream, { fromRevision: START });
    subscription.on('error', () => {});
    const err = await once(subscription, 'error', 10_000);
    await subscription.unsubscribe();
    assert.ok(err instanceof pkg.StreamDeletedError, `expected StreamDeletedError, got ${describeError(err)}`);
  });
});

describe('server shutdown with open subscriptions', () => {
  for (const flavor of FLAVORS) {
    it(`${flavor.name}: SIGTERM ends the subscription with UnavailableError and the server exits 0`, T, async () => {
      const server = await startServer();
      const client = flavor.connect(server);
      try {
        const stream = uniqueStream('shutdown');
        await client.appendToStream(stream, flavor.pkg.jsonEvent({ type: 'X', data: {} }));
        const subscription = client.subscribeToStream(stream, { fromRevision: flavor.pkg.START });
        const all = client.subscribeToAll({ fromPosition: flavor.pkg.START });
        for (const s of [subscription, all]) s.on('error', () => {});
        const error = once(subscription, 'error', 10_000);
        const allError = once(all, 'error', 10_000);
        // Both calls are open once each delivered its first event.
        await Promise.all([once(subscription, 'data'), once(all, 'data')]);
        subscription.on('data', () => {});
        all.on('data', () => {});
        await server.stop();
        for (const err of [await error, await allError]) {
          assert.ok(err instanceof flavor.pkg.UnavailableError, `expected UnavailableError, got ${describeError(err)}`);
        }
      } finally {
        await server.stop();
        await client.dispose();
      }
    });
  }
});
