// appendToStream through both official clients: expected states, typed
// errors, results, idempotence, payload shapes, and the append size limit.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import {
  FLAVORS,
  HOOK,
  T,
  collect,
  expectError,
  forEachClient,
  startServer,
  uniqueStream,
} from './harness.mjs';

const MAX_APPEND_SIZE = 1024;

function assertPosition(position, what) {
  assert.ok(position, `${what}: a position`);
  assert.equal(typeof position.commit, 'bigint', `${what}: commit is a bigint`);
  assert.equal(typeof position.prepare, 'bigint', `${what}: prepare is a bigint`);
  assert.ok(position.commit > 0n, `${what}: commit > 0 (got ${position.commit})`);
  assert.ok(position.prepare > 0n, `${what}: prepare > 0 (got ${position.prepare})`);
}

forEachClient(describe, before, after, [], (ctx, flavor) => {
  const { pkg } = flavor;
  const { ANY, NO_STREAM, STREAM_EXISTS, jsonEvent, binaryEvent } = pkg;
  const state = flavor.appendState;
  const event = (n = 0) => jsonEvent({ type: 'Appended', data: { n } });

  it('exports the typed errors this suite checks', () => {
    for (const name of [
      'WrongExpectedVersionError',
      'MaxAppendSizeExceededError',
      'StreamNotFoundError',
      'StreamDeletedError',
    ]) {
      assert.equal(typeof pkg[name], 'function', `${flavor.name} exports ${name}`);
    }
  });

  it('any: creates the stream, then appends after the last revision', T, async () => {
    const stream = uniqueStream('any');
    const first = await ctx.client.appendToStream(stream, event(0), state(ANY));
    assert.equal(first.success, true);
    assert.equal(first.nextExpectedRevision, 0n);
    const second = await ctx.client.appendToStream(stream, [event(1), event(2)], state(ANY));
    assert.equal(second.nextExpectedRevision, 2n);
    const read = await collect(ctx.client.readStream(stream));
    assert.deepEqual(
      read.map((e) => e.event.revision),
      [0n, 1n, 2n],
    );
    assert.deepEqual(
      read.map((e) => e.event.data.n),
      [0, 1, 2],
    );
  });

  it('no_stream: succeeds on a new stream, WrongExpectedVersionError once it exists', T, async () => {
    const stream = uniqueStream('nostream');
    const first = await ctx.client.appendToStream(stream, [event(0), event(1)], state(NO_STREAM));
    assert.equal(first.nextExpectedRevision, 1n);
    await expectError(
      ctx.client.appendToStream(stream, event(2), state(NO_STREAM)),
      pkg.WrongExpectedVersionError,
      (err) => {
        assert.equal(err.streamName, stream);
        assert.equal(flavor.versions(err).expected, 'no_stream');
        assert.equal(flavor.versions(err).actual, 1n);
      },
    );
    assert.equal((await collect(ctx.client.readStream(stream))).length, 2);
  });

  it('stream_exists: WrongExpectedVersionError on a missing stream, success once it exists', T, async () => {
    const stream = uniqueStream('exists');
    await expectError(
      ctx.client.appendToStream(stream, event(0), state(STREAM_EXISTS)),
      pkg.WrongExpectedVersionError,
      (err) => {
        assert.equal(err.streamName, stream);
        assert.equal(flavor.versions(err).expected, 'stream_exists');
        assert.equal(flavor.versions(err).actual, 'no_stream');
      },
    );
    await expectError(collect(ctx.client.readStream(stream)), pkg.StreamNotFoundError);
    await ctx.client.appendToStream(stream, event(0), state(NO_STREAM));
    const result = await ctx.client.appendToStream(stream, event(1), state(STREAM_EXISTS));
    assert.equal(result.nextExpectedRevision, 1n);
  });

  it('exact revision: appends when current, WrongExpectedVersionError with the actual revision otherwise', T, async () => {
    const stream = uniqueStream('exact');
    await expectError(
      ctx.client.appendToStream(stream, event(0), state(0n)),
      pkg.WrongExpectedVersionError,
      (err) => {
        assert.equal(flavor.versions(err).expected, 0n);
        assert.equal(flavor.versions(err).actual, 'no_stream');
      },
    );
    const created = await ctx.client.appendToStream(stream, [event(0), event(1), event(2)], state(NO_STREAM));
    assert.equal(created.nextExpectedRevision, 2n);
    const next = await ctx.client.appendToStream(stream, event(3), state(2n));
    assert.equal(next.nextExpectedRevision, 3n);
    for (const stale of [1n, 2n, 7n]) {
      await expectError(
        ctx.client.appendToStream(stream, event(99), state(stale)),
        pkg.WrongExpectedVersionError,
        (err) => {
          assert.equal(err.streamName, stream);
          assert.equal(flavor.versions(err).expected, stale);
          assert.equal(flavor.versions(err).actual, 3n);
        },
      );
    }
    assert.equal((await collect(ctx.client.readStream(stream))).length, 4);
  });

  it('results carry nextExpectedRevision and the position of the last event', T, async () => {
    const stream = uniqueStream('position');
    const a = await ctx.client.appendToStream(stream, [event(0), event(1), event(2)], state(NO_STREAM));
    const b = await ctx.client.appendToStream(stream, event(3), state(2n));
    assert.equal(a.nextExpectedRevision, 2n);
    assert.equal(b.nextExpectedRevision, 3n);
    assertPosition(a.position, 'first append');
    assertPosition(b.position, 'second append');
    assert.ok(b.position.commit > a.position.commit, 'positions grow');
    const read = await collect(ctx.client.readStream(stream));
    assert.deepEqual(read[2].event.position, a.position, 'first append: position of its last event');
    assert.deepEqual(read[3].event.position, b.position, 'second append: position of its event');
    assert.ok(read[0].event.position.commit < read[1].event.position.commit);
    assert.ok(read[1].event.position.commit < read[2].event.position.commit);
  });

  it('recorded events keep id, type, content type and a creation time', T, async () => {
    const stream = uniqueStream('fields');
    const id = randomUUID();
    const before = Date.now();
    await ctx.client.appendToStream(stream, jsonEvent({ id, type: 'Fielded', data: { ok: true } }));
    const [read] = await collect(ctx.client.readStream(stream));
    assert.equal(read.event.id, id);
    assert.equal(read.event.type, 'Fielded');
    assert.equal(read.event.streamId, stream);
    assert.equal(read.event.isJson, true);
    assert.deepEqual(read.event.data, { ok: true });
    assert.ok(read.event.created instanceof Date);
    const created = read.event.created.getTime();
    assert.ok(
      created >= before - 60_000 && created <= Date.now() + 60_000,
      `created ${read.event.created.toISOString()} is about now`,
    );
  });

  it('idempotent retry: the same event id appended again writes nothing', T, async () => {
    const stream = uniqueStream('idem');
    const id = randomUUID();
    const e = jsonEvent({ id, type: 'Once', data: { v: 1 } });
    const first = await ctx.client.appendToStream(stream, e, state(ANY));
    const again = await ctx.client.appendToStream(stream, e, state(ANY));
    assert.equal(again.success, true);
    assert.equal(again.nextExpectedRevision, first.nextExpectedRevision);
    const read = await collect(ctx.client.readStream(stream));
    assert.equal(read.length, 1, 'a retry with any writes nothing');
    assert.equal(read[0].event.id, id);
  });

  it('idempotent retry with the original expected state acknowledges without writing', T, async () => {
    const stream = uniqueStream('idem-exact');
    const batch = [0, 1, 2].map((n) => jsonEvent({ id: randomUUID(), type: 'Batch', data: { n } }));
    const first = await ctx.client.appendToStream(stream, batch, state(NO_STREAM));
    assert.equal(first.nextExpectedRevision, 2n);
    const retry = await ctx.client.appendToStream(stream, batch, state(NO_STREAM));
    assert.equal(retry.success, true, 'retry of the same batch with no_stream is acknowledged');
    assert.equal(retry.nextExpectedRevision, 2n);
    const read = await collect(ctx.client.readStream(stream));
    assert.deepEqual(
      read.map((r) => r.event.id),
      batch.map((b) => b.id),
    );
    // New ids at the stale revision are a real conflict.
    await expectError(
      ctx.client.appendToStream(stream, event(9), state(NO_STREAM)),
      pkg.WrongExpectedVersionError,
      (err) => assert.equal(flavor.versions(err).actual, 2n),
    );
  });

  it('the same event id may be used in another stream', T, async () => {
    const id = randomUUID();
    const a = uniqueStream('reuse-a');
    const b = uniqueStream('reuse-b');
    await ctx.client.appendToStream(a, jsonEvent({ id, type: 'Shared', data: {} }));
    await ctx.client.appendToStream(b, jsonEvent({ id, type: 'Shared', data: {} }));
    assert.equal((await collect(ctx.client.readStream(a))).length, 1);
    assert.equal((await collect(ctx.client.readStream(b))).length, 1);
  });

  it('a 1 MB event round-trips', T, async () => {
    const stream = uniqueStream('big');
    // Varied text (not one repeated byte) so a truncation or reordering shows.
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
    let text = '';
    const chunk = Array.from({ length: 1000 }, (_, i) => alphabet[(i * 7) % alphabet.length]).join('');
    for (let i = 0; text.length < 1_000_000; i += 1) text += `${i}:${chunk}`;
    text = text.slice(0, 1_000_000);
    const result = await ctx.client.appendToStream(stream, jsonEvent({ type: 'Big', data: { text } }));
    assert.equal(result.nextExpectedRevision, 0n);
    const [read] = await collect(ctx.client.readStream(stream));
    assert.equal(read.event.data.text.length, text.length);
    assert.ok(read.event.data.text === text, 'the 1 MB payload reads back equal');
  });

  it('unicode stream names round-trip', T, async () => {
    const stream = `ünïcødé-流れ-🚀-${uniqueStream('u')}`;
    await ctx.client.appendToStream(stream, [event(0), event(1)], state(NO_STREAM));
    const read = await collect(ctx.client.readStream(stream));
    assert.equal(read.length, 2);
    for (const r of read) assert.equal(r.event.streamId, stream);
    const backwards = await collect(
      ctx.client.readAll({ direction: pkg.BACKWARDS, fromPosition: pkg.END, maxCount: 2 }),
    );
    assert.deepEqual(
      backwards.map((r) => r.event.streamId),
      [stream, stream],
    );
  });

  it('binary payloads (all 256 byte values) round-trip', T, async () => {
    const stream = uniqueStream('binary');
    const data = new Uint8Array(256);
    for (let i = 0; i < 256; i += 1) data[i] = i;
    await ctx.client.appendToStream(stream, binaryEvent({ type: 'Bytes', data }));
    const [read] = await collect(ctx.client.readStream(stream));
    assert.equal(read.event.isJson, false);
    assert.equal(read.event.type, 'Bytes');
    assert.deepEqual(Buffer.from(read.event.data), Buffer.from(data));
  });

  it('random binary payloads round-trip', T, async () => {
    const stream = uniqueStream('binary-random');
    const payloads = [0, 1, 17, 4096].map((n) => new Uint8Array(randomBytes(n)));
    await ctx.client.appendToStream(
      stream,
      payloads.map((data) => binaryEvent({ type: 'Random', data })),
    );
    const read = await collect(ctx.client.readStream(stream));
    assert.equal(read.length, payloads.length);
    read.forEach((r, i) => assert.deepEqual(Buffer.from(r.event.data), Buffer.from(payloads[i])));
  });

  it('custom metadata round-trips verbatim', T, async () => {
    const stream = uniqueStream('meta');
    const metadata = {
      $correlationId: randomUUID(),
      $causationId: randomUUID(),
      user: 'ünï',
      nested: { list: [1, 'two', { three: true }], nothing: null },
      big: 9007199254740991,
    };
    await ctx.client.appendToStream(stream, [
      jsonEvent({ type: 'WithMeta', data: { x: 1 }, metadata }),
      jsonEvent({ type: 'NoMeta', data: { x: 2 } }),
      binaryEvent({ type: 'BinWithMeta', data: new Uint8Array([1, 2, 3]), metadata }),
    ]);
    const read = await collect(ctx.client.readStream(stream));
    assert.deepEqual(read[0].event.metadata, metadata);
    assert.equal(read[1].event.metadata, undefined, 'no custom metadata reads back as none');
    assert.deepEqual(read[2].event.metadata, metadata);
  });
});

describe(`with --max-append-size ${MAX_APPEND_SIZE}`, () => {
  let server;
  before(async () => {
    server = await startServer(['--max-append-size', String(MAX_APPEND_SIZE)]);
  }, HOOK);
  after(async () => {
    if (server) await server.stop();
  }, HOOK);

  for (const flavor of FLAVORS) {
    describe(flavor.name, () => {
      const { pkg } = flavor;
      let client;
      before(() => {
        client = flavor.connect(server);
      }, HOOK);
      after(async () => {
        if (client) await client.dispose();
      }, HOOK);

      it('an append over the limit is MaxAppendSizeExceededError and writes nothing', T, async () => {
        const stream = uniqueStream('limit');
        await client.appendToStream(stream, pkg.jsonEvent({ type: 'Small', data: { s: 'x'.repeat(100) } }));
        await expectError(
          client.appendToStream(
            stream,
            pkg.binaryEvent({ type: 'Large', data: new Uint8Array(4 * MAX_APPEND_SIZE).fill(7) }),
          ),
          pkg.MaxAppendSizeExceededError,
          (err) => assert.equal(err.maxAppendSize, MAX_APPEND_SIZE),
        );
        // Many events each under the limit, together over it.
        await expectError(
          client.appendToStream(
            stream,
            Array.from({ length: 8 }, () =>
              pkg.binaryEvent({ type: 'Part', data: new Uint8Array(MAX_APPEND_SIZE / 2).fill(1) }),
            ),
          ),
          pkg.MaxAppendSizeExceededError,
        );
        const read = await collect(client.readStream(stream));
        assert.deepEqual(
          read.map((r) => r.event.type),
          ['Small'],
        );
        // The call failed, not the connection: the next append works.
        const ok = await client.appendToStream(stream, pkg.jsonEvent({ type: 'Small', data: {} }));
        assert.equal(ok.nextExpectedRevision, 1n);
      });
    });
  }
});
