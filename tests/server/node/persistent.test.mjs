// Persistent subscriptions (competing consumers) through both official
// clients, on the server's consumer groups: create, subscribe, ack and nack
// (retry, park), parked events replayed, info, list, update, delete, the
// typed errors, and four pinned consumers sharing sixty streams while one of
// them, a process of its own, is SIGKILLed holding unacknowledged events.

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { T, expectError, forEachClient, once, uniqueStream, withTimeout } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

forEachClient(describe, before, after, [], (ctx, flavor) => {
  const { pkg } = flavor;
  const { START, PINNED, ROUND_ROBIN, PARK, RETRY, jsonEvent, streamNameFilter } = pkg;
  const streamSettings = pkg.persistentSubscriptionToStreamSettingsFromDefaults;
  const allSettings = pkg.persistentSubscriptionToAllSettingsFromDefaults;

  const numbered = (from, count, type = 'Work') =>
    Array.from({ length: count }, (_, i) => jsonEvent({ type, data: { n: from + i } }));

  // Reads `subscription` until `done(received)`, handling each event with
  // `handle(event)` (which acks or nacks it); bounded by the test's timeout.
  async function consume(subscription, handle, done) {
    const received = [];
    for await (const event of subscription) {
      received.push(event);
      await handle(event);
      if (done(received)) break;
    }
    return received;
  }

  it('a group on a stream: every event once across two consumers, each acked', T, async () => {
    const stream = uniqueStream('ps');
    await ctx.client.appendToStream(stream, numbered(0, 40));
    await ctx.client.createPersistentSubscriptionToStream(
      stream, 'workers', streamSettings({ startFrom: START, consumerStrategyName: ROUND_ROBIN }));
    const other = flavor.connect(ctx.server);
    const seen = [];
    const [a, b] = [ctx.client, other].map((client) =>
      client.subscribeToPersistentSubscriptionToStream(stream, 'workers', { bufferSize: 5 }));
    try {
      const handle = (subscription) => async (event) => {
        seen.push(event.event.data.n);
        await subscription.ack(event);
      };
      const done = () => seen.length >= 40;
      const stop = (subscription) => (done() ? subscription.unsubscribe() : undefined);
      await withTimeout(
        Promise.race([consume(a, handle(a), done), consume(b, handle(b), done)]),
        20_000,
        () => { throw new Error(`only ${seen.length} of 40 events`); },
      );
      await Promise.all([stop(a), stop(b)]);
      assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
    } finally {
      await a.unsubscribe();
      await b.unsubscribe();
      await other.dispose();
    }
  });

  it('nack retry comes back with its retry count; park, replay parked, info', T, async () => {
    const stream = uniqueStream('psnack');
    await ctx.client.appendToStream(stream, numbered(0, 3));
    await ctx.client.createPersistentSubscriptionToStream(
      stream, 'g', streamSettings({ startFrom: START, maxRetryCount: 5 }));
    let subscription = ctx.client.subscribeToPersistentSubscriptionToStream(stream, 'g');
    const deliveries = [];
    await consume(
      subscription,
      async (event) => {
        deliveries.push([event.event.data.n, event.retryCount]);
        if (event.event.data.n === 0 && event.retryCount === 0) {
          await subscription.nack(RETRY, 'try again', event);
        } else if (event.event.data.n === 1) {
          await subscription.nack(PARK, 'bad input', event);
        } else {
          await subscription.ack(event);
        }
      },
      () => deliveries.length >= 4,
    );
    await subscription.unsubscribe();
    assert.deepEqual(
      [...deliveries].sort(),
      [[0, 0], [0, 1], [1, 0], [2, 0]].sort(),
    );
    let info = await ctx.client.getPersistentSubscriptionToStreamInfo(stream, 'g');
    assert.equal(info.groupName, 'g');
    assert.equal(info.eventSource, stream);
    assert.equal(info.settings.maxRetryCount, 5);
    assert.equal(info.stats.parkedMessageCount, 1n);

    // The parked event comes back, with a fresh retry count.
    await ctx.client.replayParkedMessagesToStream(stream, 'g');
    subscription = ctx.client.subscribeToPersistentSubscriptionToStream(stream, 'g');
    const replayed = await consume(subscription, (event) => subscription.ack(event), (r) => r.length >= 1);
    assert.equal(replayed[0].event.data.n, 1);
    assert.equal(replayed[0].retryCount, 0);
    // An ack is one-way: parked no more once the server has it.
    for (let i = 0; i < 250; i += 1) {
      info = await ctx.client.getPersistentSubscriptionToStreamInfo(stream, 'g');
      if (info.stats.parkedMessageCount === 0n) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await subscription.unsubscribe();
    assert.equal(info.stats.parkedMessageCount, 0n);
  });

  it('a group on $all with a stream name filter gets only the matching events', T, async () => {
    const prefix = `psall-${uniqueStream('p')}-`;
    await ctx.client.appendToStream(`${prefix}a`, numbered(0, 5));
    await ctx.client.appendToStream(uniqueStream('elsewhere'), numbered(0, 5));
    await ctx.client.appendToStream(`${prefix}b`, numbered(5, 5));
    const group = uniqueStream('allgroup');
    await ctx.client.createPersistentSubscriptionToAll(group, allSettings({ startFrom: START }), {
      filter: streamNameFilter({ prefixes: [prefix] }),
    });
    const subscription = ctx.client.subscribeToPersistentSubscriptionToAll(group);
    const received = await consume(subscription, (event) => subscription.ack(event), (r) => r.length >= 10);
    await subscription.unsubscribe();
    assert.deepEqual(received.map((e) => e.event.data.n), Array.from({ length: 10 }, (_, i) => i));
    assert.ok(received.every((e) => e.event.streamId.startsWith(prefix)));
    const info = await ctx.client.getPersistentSubscriptionToAllInfo(group);
    assert.equal(info.eventSource, '$all');
    await ctx.client.deletePersistentSubscriptionToAll(group);
  });

  it('update, list and delete; the typed errors', T, async () => {
    const stream = uniqueStream('psadmin');
    const { PersistentSubscriptionExistsError, PersistentSubscriptionDoesNotExistError,
      PersistentSubscriptionMaximumSubscribersReachedError } = pkg;
    await ctx.client.createPersistentSubscriptionToStream(stream, 'g', streamSettings({ maxSubscriberCount: 1 }));
    await expectError(
      ctx.client.createPersistentSubscriptionToStream(stream, 'g', streamSettings()),
      PersistentSubscriptionExistsError,
    );
    await ctx.client.updatePersistentSubscriptionToStream(
      stream, 'g', streamSettings({ maxRetryCount: 3, maxSubscriberCount: 1 }));
    const info = await ctx.client.getPersistentSubscriptionToStreamInfo(stream, 'g');
    assert.equal(info.settings.maxRetryCount, 3);
    const listed = await ctx.client.listPersistentSubscriptionsToStream(stream);
    assert.deepEqual(listed.map((i) => i.groupName), ['g']);
    const all = await ctx.client.listAllPersistentSubscriptions();
    assert.ok(all.some((i) => i.eventSource === stream && i.groupName === 'g'));

    // One subscriber at most: the second is refused.
    const first = ctx.client.subscribeToPersistentSubscriptionToStream(stream, 'g');
    await ctx.client.appendToStream(stream, numbered(0, 1));
    await consume(first, (event) => first.ack(event), (r) => r.length >= 1);
    const second = ctx.client.subscribeToPersistentSubscriptionToStream(stream, 'g');
    await expectError(
      withTimeout(consume(second, () => {}, () => true), 10_000, () => { throw new Error('no refusal'); }),
      PersistentSubscriptionMaximumSubscribersReachedError,
    );
    await first.unsubscribe();

    await ctx.client.deletePersistentSubscriptionToStream(stream, 'g');
    await expectError(
      ctx.client.deletePersistentSubscriptionToStream(stream, 'g'),
      PersistentSubscriptionDoesNotExistError,
    );
    const missing = ctx.client.subscribeToPersistentSubscriptionToStream(stream, 'nope');
    await expectError(
      withTimeout(consume(missing, () => {}, () => true), 10_000, () => { throw new Error('no refusal'); }),
      PersistentSubscriptionDoesNotExistError,
    );
  });

  it('four pinned consumers, one SIGKILLed holding events: every event acked once, each stream in order', T, async () => {
    const prefix = uniqueStream('pspin');
    const streams = Array.from({ length: 60 }, (_, i) => `${prefix}-${i}`);
    const group = `pinned-${prefix}`;
    const ROUNDS = 5;
    const BUFFER = 4;
    const ACKED_BEFORE_KILL = 8;
    // The group is on $all, narrowed to these streams: four consumers share
    // sixty streams, each stream pinned to one of them.
    await ctx.client.createPersistentSubscriptionToAll(
      group, allSettings({ startFrom: START, consumerStrategyName: PINNED }),
      { filter: streamNameFilter({ prefixes: [prefix] }) });
    const total = streams.length * ROUNDS;
    const acked = new Map(); // event id -> times acknowledged
    const order = new Map(); // stream -> revisions, in the order they were acknowledged
    const record = (id, stream, revision) => {
      acked.set(id, (acked.get(id) ?? 0) + 1);
      if (!order.has(stream)) order.set(stream, []);
      order.get(stream).push(revision);
    };
    // Consumer 0: a process of its own, SIGKILLed once it holds BUFFER events.
    const child = fork(path.join(here, 'persistent_consumer.mjs'),
      [ctx.server.host, String(ctx.server.port), group, String(ACKED_BEFORE_KILL), String(BUFFER)],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let killed = false;
    const childGone = new Promise((resolve) => child.on('exit', resolve));
    const childJoined = new Promise((resolve) => {
      child.on('message', (message) => {
        if (message.joined) return resolve();
        if (message.holding) {
          killed = child.kill('SIGKILL');
          return undefined;
        }
        return record(message.id, message.stream, BigInt(message.revision));
      });
    });
    // All four join before the first event is written, so each stream's
    // consumer is settled before anything is delivered.
    const clients = [0, 1].map(() => flavor.connect(ctx.server));
    const subscriptions = [1, 2, 3].map((i) =>
      clients[i % 2].subscribeToPersistentSubscriptionToAll(group, { bufferSize: BUFFER }));
    await withTimeout(
      Promise.all([childJoined, ...subscriptions.map((s) => once(s, 'confirmation', 10_000))]),
      10_000,
      () => { throw new Error('not every consumer joined'); },
    );
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const stream of streams) await ctx.client.appendToStream(stream, numbered(round, 1));
    }
    const work = subscriptions.map(async (subscription) => {
      for await (const event of subscription) {
        record(event.event.id, event.event.streamId, event.event.revision);
        await subscription.ack(event);
      }
    });
    try {
      await withTimeout(
        (async () => {
          while (acked.size < total) await new Promise((r) => setTimeout(r, 20));
        })(),
        25_000,
        () => { throw new Error(`only ${acked.size} of ${total} events acked (killed: ${killed})`); },
      );
      assert.ok(killed, 'consumer 0 was killed');
      const twice = [...acked.entries()].filter(([, times]) => times !== 1);
      assert.deepEqual(twice, [], 'each event acked once');
      for (const stream of streams) {
        assert.deepEqual(order.get(stream), Array.from({ length: ROUNDS }, (_, i) => BigInt(i)), stream);
      }
    } finally {
      child.kill('SIGKILL');
      await childGone;
      for (const subscription of subscriptions) await subscription.unsubscribe();
      await Promise.allSettled(work);
      for (const client of clients) await client.dispose();
    }
  });
});
