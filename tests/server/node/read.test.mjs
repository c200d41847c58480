// readStream and readAll through both official clients: directions,
// starting points, counts, $all's system events, not-found, and filters.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { HOOK, T, collect, expectError, forEachClient, uniqueStream } from './harness.mjs';

// Events this file appended to the server (both flavors share one server):
// $all must hold more than this, the server's own events included.
let written = 0;

forEachClient(describe, before, after, [], (ctx, flavor) => {
  const { pkg } = flavor;
  const { START, END, FORWARDS, BACKWARDS, jsonEvent, streamNameFilter, eventTypeFilter } = pkg;

  async function append(stream, events) {
    const result = await ctx.client.appendToStream(stream, events);
    written += events.length;
    return result;
  }

  // Ten events in one stream, revisions 0..9, data.n = revision.
  const stream = uniqueStream('read');
  // Filter fixtures: distinct prefixes per flavor so the two flavors'
  // writes to the shared server do not mix.
  const tag = flavor.name.startsWith('@eventstore') ? 'esdb' : 'kdb';
  const filterStreams = {
    a1: `flt${tag}A-one-${uniqueStream('f')}`,
    a2: `flt${tag}A-two-${uniqueStream('f')}`,
    b: `flt${tag}B-${uniqueStream('f')}`,
  };
  const typePrefix = `Ty${tag}`;
  let ten = [];

  before(async () => {
    await append(
      stream,
      Array.from({ length: 10 }, (_, n) => jsonEvent({ type: `Read${n}`, data: { n } })),
    );
    ten = await collect(ctx.client.readStream(stream));
    // Interleave the filter streams so a filter has to skip.
    for (let round = 0; round < 3; round += 1) {
      await append(filterStreams.a1, [
        jsonEvent({ type: `${typePrefix}Alpha`, data: { round } }),
      ]);
      await append(filterStreams.b, [jsonEvent({ type: `${typePrefix}Beta`, data: { round } })]);
      await append(filterStreams.a2, [
        jsonEvent({ type: `${typePrefix}Gamma`, data: { round } }),
        jsonEvent({ type: `Other${tag}Alpha`, data: { round } }),
      ]);
    }
  }, HOOK);

  const revisions = (events) => events.map((e) => e.event.revision);
  const SE = flavor.startEndKeepDirection
    ? T
    : { ...T, skip: `${flavor.name} sends START as forwards and END as backwards whatever the direction` };

  it('readStream forwards from START: every event in order', T, async () => {
    assert.deepEqual(
      revisions(ten),
      Array.from({ length: 10 }, (_, i) => BigInt(i)),
    );
    assert.deepEqual(
      ten.map((e) => e.event.data.n),
      Array.from({ length: 10 }, (_, i) => i),
    );
    assert.deepEqual(
      ten.map((e) => e.event.type),
      Array.from({ length: 10 }, (_, i) => `Read${i}`),
    );
  });

  it('readStream backwards from END: newest first', T, async () => {
    const read = await collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: END }));
    assert.deepEqual(
      revisions(read),
      Array.from({ length: 10 }, (_, i) => BigInt(9 - i)),
    );
  });

  it('readStream forwards from a revision is inclusive', T, async () => {
    const read = await collect(ctx.client.readStream(stream, { fromRevision: 5n }));
    assert.deepEqual(revisions(read), [5n, 6n, 7n, 8n, 9n]);
  });

  it('readStream backwards from a revision is inclusive', T, async () => {
    const read = await collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: 5n }));
    assert.deepEqual(revisions(read), [5n, 4n, 3n, 2n, 1n, 0n]);
  });

  it('readStream maxCount bounds the read in both directions', T, async () => {
    assert.deepEqual(revisions(await collect(ctx.client.readStream(stream, { maxCount: 3 }))), [0n, 1n, 2n]);
    assert.deepEqual(
      revisions(
        await collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 3 })),
      ),
      [9n, 8n, 7n],
    );
    assert.deepEqual(
      revisions(
        await collect(ctx.client.readStream(stream, { direction: FORWARDS, fromRevision: 8n, maxCount: 5 })),
      ),
      [8n, 9n],
    );
    assert.deepEqual(revisions(await collect(ctx.client.readStream(stream, { maxCount: 1 }))), [0n]);
  });

  it('readStream forwards past the last revision reads nothing', T, async () => {
    assert.deepEqual(await collect(ctx.client.readStream(stream, { fromRevision: 100n })), []);
  });

  it('readStream forwards from END reads nothing', SE, async () => {
    assert.deepEqual(await collect(ctx.client.readStream(stream, { fromRevision: END })), []);
  });

  it('readStream backwards from START reads the first event only', SE, async () => {
    const read = await collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: START }));
    assert.deepEqual(revisions(read), [0n]);
  });

  it('a missing stream is StreamNotFoundError', T, async () => {
    const missing = uniqueStream('missing');
    for (const options of [{}, { direction: BACKWARDS, fromRevision: END }, { fromRevision: 3n }]) {
      await expectError(collect(ctx.client.readStream(missing, options)), pkg.StreamNotFoundError, (err) => {
        if (err.streamName !== undefined) assert.equal(err.streamName, missing);
      });
    }
  });

  it('readAll forwards from START: our events in order, positions increasing', T, async () => {
    const all = await collect(ctx.client.readAll({ fromPosition: START }));
    const ours = all.filter((e) => e.event?.streamId === stream);
    assert.deepEqual(
      ours.map((e) => e.event.id),
      ten.map((e) => e.event.id),
    );
    for (let i = 1; i < all.length; i += 1) {
      assert.ok(
        all[i].event.position.commit > all[i - 1].event.position.commit,
        `positions increase at index ${i}`,
      );
    }
    // The ReadEvent's own commit position is the record's.
    for (const e of all) {
      if (e.commitPosition !== undefined) assert.equal(e.commitPosition, e.event.position.commit);
    }
  });

  it('$all holds more events than this file wrote, a $-stream event among them', T, async () => {
    const all = await collect(ctx.client.readAll({ fromPosition: START }));
    assert.ok(all.length > written, `$all has ${all.length} events, this file wrote ${written}`);
    assert.ok(
      all.some((e) => e.event.streamId.startsWith('$')),
      `a system event in $all: ${[...new Set(all.map((e) => e.event.streamId))].slice(0, 10).join(', ')}`,
    );
  });

  it('readAll backwards from END: the reverse of forwards', T, async () => {
    const forwards = await collect(ctx.client.readAll({ fromPosition: START }));
    const backwards = await collect(ctx.client.readAll({ direction: BACKWARDS, fromPosition: END }));
    assert.deepEqual(
      backwards.map((e) => e.event.position),
      forwards.map((e) => e.event.position).reverse(),
    );
  });

  it('readAll from a position is inclusive, forwards and backwards', T, async () => {
    const pivot = ten[4].event;
    const fwd = await collect(ctx.client.readAll({ fromPosition: pivot.position, maxCount: 3 }));
    assert.deepEqual(
      fwd.map((e) => e.event.id),
      [ten[4], ten[5], ten[6]].map((e) => e.event.id),
    );
    const back = await collect(
      ctx.client.readAll({ direction: BACKWARDS, fromPosition: pivot.position, maxCount: 3 }),
    );
    assert.deepEqual(
      back.map((e) => e.event.id),
      [ten[4], ten[3], ten[2]].map((e) => e.event.id),
    );
  });

  it('readAll maxCount bounds the read', T, async () => {
    const two = await collect(ctx.client.readAll({ fromPosition: START, maxCount: 2 }));
    assert.equal(two.length, 2);
    const last = await collect(ctx.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
    assert.equal(last.length, 1);
    const forwards = await collect(ctx.client.readAll({ fromPosition: START }));
    assert.deepEqual(last[0].event.position, forwards.at(-1).event.position);
  });

  it('readAll forwards from END reads nothing', SE, async () => {
    assert.deepEqual(await collect(ctx.client.readAll({ fromPosition: END })), []);
  });

  it('readAll backwards from START reads nothing', SE, async () => {
    assert.deepEqual(await collect(ctx.client.readAll({ direction: BACKWARDS, fromPosition: START })), []);
  });

  const expected = (pred) => async () => {
    const all = await collect(ctx.client.readAll({ fromPosition: START }));
    return all.filter((e) => pred(e.event)).map((e) => e.event.id);
  };
  const ids = (events) => events.map((e) => e.event.id);
  const F = flavor.readAllFilter
    ? T
    : { ...T, skip: `${flavor.name}: readAll takes no filter (the client sends no_filter)` };

  it('filtered readAll: stream-name prefixes', F, async () => {
    const prefix = `flt${tag}A-`;
    const want = await expected((e) => e.streamId.startsWith(prefix))();
    assert.equal(want.length, 9, 'fixture: 3 events in a1, 6 in a2');
    const got = await collect(
      ctx.client.readAll({ fromPosition: START, filter: streamNameFilter({ prefixes: [prefix] }) }),
    );
    assert.deepEqual(ids(got), want);
    const two = await collect(
      ctx.client.readAll({
        fromPosition: START,
        filter: streamNameFilter({ prefixes: [filterStreams.a1, filterStreams.b] }),
      }),
    );
    assert.deepEqual(ids(two), await expected((e) => e.streamId === filterStreams.a1 || e.streamId === filterStreams.b)());
    assert.equal(two.length, 6);
  });

  it('filtered readAll: stream-name regex', F, async () => {
    const got = await collect(
      ctx.client.readAll({ fromPosition: START, filter: streamNameFilter({ regex: `^flt${tag}[AB]-(one|two)-` }) }),
    );
    assert.deepEqual(
      ids(got),
      await expected((e) => e.streamId === filterStreams.a1 || e.streamId === filterStreams.a2)(),
    );
    assert.equal(got.length, 9);
  });

  it('filtered readAll: event-type prefixes', F, async () => {
    const got = await collect(
      ctx.client.readAll({
        fromPosition: START,
        filter: eventTypeFilter({ prefixes: [`${typePrefix}Alpha`, `${typePrefix}Gamma`] }),
      }),
    );
    const want = await expected((e) => e.type === `${typePrefix}Alpha` || e.type === `${typePrefix}Gamma`)();
    assert.equal(want.length, 6);
    assert.deepEqual(ids(got), want);
  });

  it('filtered readAll: event-type regex', F, async () => {
    const got = await collect(
      ctx.client.readAll({ fromPosition: START, filter: eventTypeFilter({ regex: `^(${typePrefix}|Other${tag}).*Alpha$` }) }),
    );
    const want = await expected((e) => e.type === `${typePrefix}Alpha` || e.type === `Other${tag}Alpha`)();
    assert.equal(want.length, 6);
    assert.deepEqual(ids(got), want);
  });

  it('filtered readAll: backwards and maxCount count matching events', F, async () => {
    const got = await collect(
      ctx.client.readAll({
        direction: BACKWARDS,
        fromPosition: END,
        maxCount: 2,
        filter: eventTypeFilter({ prefixes: [`${typePrefix}Beta`] }),
      }),
    );
    const want = (await expected((e) => e.type === `${typePrefix}Beta`)()).reverse().slice(0, 2);
    assert.deepEqual(ids(got), want);
  });

  it('excludeSystemEvents leaves out $-typed events', F, async () => {
    const got = await collect(ctx.client.readAll({ fromPosition: START, filter: pkg.excludeSystemEvents() }));
    assert.ok(got.length > 0);
    assert.ok(got.every((e) => !e.event.type.startsWith('$')), 'no $-type in the result');
    assert.deepEqual(ids(got), await expected((e) => !e.type.startsWith('$'))());
  });
  it('resolveLinkTos: a $> link reads as its target with the link beside it', T, async () => {
    const links = uniqueStream('links');
    await append(links, [
      pkg.binaryEvent({ type: '$>', data: Buffer.from(`3@${stream}`) }),
      pkg.binaryEvent({ type: '$>', data: Buffer.from(`99@${stream}`) }),
    ]);
    const plain = await collect(ctx.client.readStream(links));
    assert.deepEqual(plain.map((e) => e.event.type), ['$>', '$>']);
    assert.ok(plain.every((e) => e.link === undefined));

    const [hit, miss] = await collect(ctx.client.readStream(links, { resolveLinkTos: true }));
    assert.equal(hit.event.streamId, stream);
    assert.equal(hit.event.revision, 3n);
    assert.equal(hit.event.type, 'Read3');
    assert.deepEqual(hit.event.data, { n: 3 });
    assert.equal(hit.link.streamId, links);
    assert.equal(hit.link.revision, 0n);
    assert.equal(hit.link.type, '$>');
    // A link to an event that is not there comes alone.
    assert.equal(miss.event, undefined);
    assert.equal(miss.link.revision, 1n);
  });
});
