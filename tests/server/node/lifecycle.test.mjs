// Stream lifecycle through both official clients: soft delete, tombstone,
// expected revisions on delete, and stream metadata.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { T, collect, expectError, forEachClient, uniqueStream } from './harness.mjs';

forEachClient(describe, before, after, [], (ctx, flavor) => {
  const { pkg } = flavor;
  const { ANY, NO_STREAM, STREAM_EXISTS, START, END, BACKWARDS, jsonEvent } = pkg;
  const state = flavor.appendState;
  const numbered = (from, count) =>
    Array.from({ length: count }, (_, i) => jsonEvent({ type: 'Life', data: { n: from + i } }));

  it('deleteStream: reads are StreamNotFoundError, a later append continues after the last revision', T, async () => {
    const stream = uniqueStream('delete');
    await ctx.client.appendToStream(stream, numbered(0, 3), state(NO_STREAM));
    const deleted = await ctx.client.deleteStream(stream);
    assert.ok(deleted.position === undefined || typeof deleted.position.commit === 'bigint');
    await expectError(collect(ctx.client.readStream(stream)), pkg.StreamNotFoundError);
    await expectError(
      collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: END })),
      pkg.StreamNotFoundError,
    );
    const again = await ctx.client.appendToStream(stream, numbered(3, 1));
    assert.equal(again.nextExpectedRevision, 3n, 'numbering continues after the deleted events');
    const read = await collect(ctx.client.readStream(stream));
    assert.deepEqual(
      read.map((e) => e.event.revision),
      [3n],
    );
    assert.deepEqual(
      read.map((e) => e.event.data.n),
      [3],
    );
  });

  it('deleteStream with the current revision succeeds', T, async () => {
    const stream = uniqueStream('delete-exact');
    await ctx.client.appendToStream(stream, numbered(0, 2), state(NO_STREAM));
    await ctx.client.deleteStream(stream, { expectedRevision: 1n });
    await expectError(collect(ctx.client.readStream(stream)), pkg.StreamNotFoundError);
  });

  // KurrentDB recreates a soft-deleted stream on its first write with
  // expected any, no_stream or the last revision before the delete.
  it('a soft-deleted stream is recreated by an append expecting no_stream, once', T, async () => {
    const stream = uniqueStream('recreate-nostream');
    await ctx.client.appendToStream(stream, numbered(0, 2), state(NO_STREAM));
    await ctx.client.deleteStream(stream);
    const again = await ctx.client.appendToStream(stream, numbered(2, 3), state(NO_STREAM));
    assert.equal(again.nextExpectedRevision, 4n);
    await expectError(ctx.client.appendToStream(stream, numbered(5, 1), state(NO_STREAM)), pkg.WrongExpectedVersionError, (err) =>
      assert.equal(flavor.versions(err).actual, 4n),
    );
    assert.deepEqual(
      (await collect(ctx.client.readStream(stream))).map((e) => e.event.revision),
      [2n, 3n, 4n],
    );
  });

  it('a soft-deleted stream is recreated by an append expecting its last revision', T, async () => {
    const stream = uniqueStream('recreate-exact');
    await ctx.client.appendToStream(stream, numbered(0, 2), state(NO_STREAM));
    await ctx.client.deleteStream(stream, { expectedRevision: 1n });
    const again = await ctx.client.appendToStream(stream, numbered(2, 3), state(1n));
    assert.equal(again.nextExpectedRevision, 4n);
    assert.deepEqual(
      (await collect(ctx.client.readStream(stream))).map((e) => e.event.revision),
      [2n, 3n, 4n],
    );
  });

  it('deleteStream with a wrong expected revision is WrongExpectedVersionError and deletes nothing', T, async () => {
    const stream = uniqueStream('delete-wev');
    await ctx.client.appendToStream(stream, numbered(0, 3), state(NO_STREAM));
    await expectError(ctx.client.deleteStream(stream, { expectedRevision: 5n }), pkg.WrongExpectedVersionError, (err) => {
      assert.equal(err.streamName, stream);
      assert.equal(flavor.versions(err).expected, 5n);
      assert.equal(flavor.versions(err).actual, 2n);
    });
    await expectError(ctx.client.deleteStream(stream, { expectedRevision: NO_STREAM }), pkg.WrongExpectedVersionError);
    await expectError(ctx.client.tombstoneStream(stream, { expectedRevision: 0n }), pkg.WrongExpectedVersionError, (err) => {
      assert.equal(err.streamName, stream);
      assert.equal(flavor.versions(err).expected, 0n);
    });
    assert.equal((await collect(ctx.client.readStream(stream))).length, 3);
  });

  it('deleteStream of a missing stream with a revision is WrongExpectedVersionError', T, async () => {
    const stream = uniqueStream('delete-missing');
    await expectError(ctx.client.deleteStream(stream, { expectedRevision: 0n }), pkg.WrongExpectedVersionError, (err) => {
      assert.equal(err.streamName, stream);
      assert.equal(flavor.versions(err).expected, 0n);
    });
  });

  it('tombstoneStream: reads, appends and deletes are StreamDeletedError, for good', T, async () => {
    const stream = uniqueStream('tomb');
    await ctx.client.appendToStream(stream, numbered(0, 2));
    await ctx.client.tombstoneStream(stream);
    const named = (err) => assert.equal(err.streamName, stream);
    await expectError(collect(ctx.client.readStream(stream)), pkg.StreamDeletedError, named);
    await expectError(
      collect(ctx.client.readStream(stream, { direction: BACKWARDS, fromRevision: END })),
      pkg.StreamDeletedError,
      named,
    );
    for (const expected of [ANY, NO_STREAM, STREAM_EXISTS, 1n]) {
      await expectError(ctx.client.appendToStream(stream, numbered(2, 1), state(expected)), pkg.StreamDeletedError, named);
    }
    await expectError(ctx.client.deleteStream(stream), pkg.StreamDeletedError, named);
    await expectError(ctx.client.tombstoneStream(stream), pkg.StreamDeletedError, named);
  });

  it('tombstoneStream of a soft-deleted stream makes it permanent', T, async () => {
    const stream = uniqueStream('soft-then-hard');
    await ctx.client.appendToStream(stream, numbered(0, 1));
    await ctx.client.deleteStream(stream);
    await ctx.client.tombstoneStream(stream);
    await expectError(collect(ctx.client.readStream(stream)), pkg.StreamDeletedError);
    await expectError(ctx.client.appendToStream(stream, numbered(1, 1)), pkg.StreamDeletedError);
  });

  const fullMetadata = () => ({
    maxCount: 10,
    maxAge: 3600,
    truncateBefore: 2,
    cacheControl: 60,
    acl: {
      readRoles: ['$all'],
      writeRoles: ['ops', 'admins'],
      deleteRoles: ['$admins'],
      metaReadRoles: ['$all'],
      metaWriteRoles: ['$admins'],
    },
    custom: { nested: [1, 'two', { three: true }], none: null },
    'ünïcødé key': 'välue',
    flag: false,
  });

  it('setStreamMetadata/getStreamMetadata round-trip every key verbatim', T, async () => {
    const stream = uniqueStream('meta');
    await ctx.client.appendToStream(stream, numbered(0, 1));
    const metadata = fullMetadata();
    const result = await ctx.client.setStreamMetadata(stream, metadata);
    assert.equal(result.success, true);
    assert.equal(result.nextExpectedRevision, 0n, 'the first metadata write is revision 0 of $$stream');
    const got = await ctx.client.getStreamMetadata(stream);
    assert.equal(got.streamName, stream);
    assert.deepEqual(got.metadata, metadata);
    // The metastream holds it as a $metadata event with the wire keys.
    const [raw] = await collect(ctx.client.readStream(`$$${stream}`));
    assert.equal(raw.event.type, '$metadata');
    assert.equal(raw.event.isJson, true);
    assert.equal(raw.event.data.$maxCount, 10);
    assert.equal(raw.event.data.$maxAge, 3600);
    assert.equal(raw.event.data.$tb, 2);
    assert.equal(raw.event.data.$cacheControl, 60);
    assert.deepEqual(raw.event.data.$acl.$w, ['ops', 'admins']);
    assert.deepEqual(raw.event.data.custom, metadata.custom);
  });

  it('getStreamMetadata without metadata returns none; the latest write wins', T, async () => {
    const stream = uniqueStream('meta-latest');
    const none = await ctx.client.getStreamMetadata(stream);
    assert.equal(none.streamName, stream);
    assert.equal(none.metadata, undefined);
    await ctx.client.setStreamMetadata(stream, { maxCount: 5, a: 1 });
    await ctx.client.setStreamMetadata(stream, { maxAge: 60, b: 'two' });
    const got = await ctx.client.getStreamMetadata(stream);
    assert.deepEqual(got.metadata, { maxAge: 60, b: 'two' });
  });

  it('metadata writes honour the expected revision of the metastream', T, async () => {
    const stream = uniqueStream('meta-rev');
    // The stream itself is at revision 4; the metastream is what counts.
    await ctx.client.appendToStream(stream, numbered(0, 5));
    const first = await ctx.client.setStreamMetadata(stream, { maxCount: 3 }, state(NO_STREAM));
    assert.equal(first.nextExpectedRevision, 0n);
    await expectError(
      ctx.client.setStreamMetadata(stream, { maxCount: 4 }, state(NO_STREAM)),
      pkg.WrongExpectedVersionError,
      (err) => assert.equal(flavor.versions(err).actual, 0n),
    );
    await expectError(
      ctx.client.setStreamMetadata(stream, { maxCount: 4 }, state(4n)),
      pkg.WrongExpectedVersionError,
      (err) => {
        assert.equal(flavor.versions(err).expected, 4n);
        assert.equal(flavor.versions(err).actual, 0n);
      },
    );
    const second = await ctx.client.setStreamMetadata(stream, { maxCount: 4 }, state(0n));
    assert.equal(second.nextExpectedRevision, 1n);
    await expectError(
      ctx.client.setStreamMetadata(stream, { maxCount: 5 }, state(0n)),
      pkg.WrongExpectedVersionError,
      (err) => assert.equal(flavor.versions(err).actual, 1n),
    );
    const third = await ctx.client.setStreamMetadata(stream, { maxCount: 5 }, state(STREAM_EXISTS));
    assert.equal(third.nextExpectedRevision, 2n);
    assert.deepEqual((await ctx.client.getStreamMetadata(stream)).metadata, { maxCount: 5 });
    // The stream's own revisions are untouched.
    const appended = await ctx.client.appendToStream(stream, numbered(5, 1), state(4n));
    assert.equal(appended.nextExpectedRevision, 5n);
  });

  it('$maxCount and $tb limit what reads return', T, async () => {
    const stream = uniqueStream('retention');
    await ctx.client.appendToStream(stream, numbered(0, 6));
    await ctx.client.setStreamMetadata(stream, { maxCount: 2 });
    const kept = await collect(ctx.client.readStream(stream));
    assert.deepEqual(
      kept.map((e) => e.event.revision),
      [4n, 5n],
    );
    const truncated = uniqueStream('truncate');
    await ctx.client.appendToStream(truncated, numbered(0, 6));
    await ctx.client.setStreamMetadata(truncated, { truncateBefore: 3 });
    assert.deepEqual(
      (await collect(ctx.client.readStream(truncated, { fromRevision: START }))).map((e) => e.event.revision),
      [3n, 4n, 5n],
    );
    assert.deepEqual(
      (await collect(ctx.client.readStream(truncated, { direction: BACKWARDS, fromRevision: END }))).map(
        (e) => e.event.revision,
      ),
      [5n, 4n, 3n],
    );
  });
});
