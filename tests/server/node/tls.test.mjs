// annals serve --tls-cert/--tls-key through both official clients: they
// connect with tls=true trusting the CA that signed the server's certificate
// (tests/server/make_test_cert.sh), append and read back;
// a plaintext client of the same server gets nowhere.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { FLAVORS, HOOK, T, collect, startServer, uniqueStream } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('TLS', () => {
  let dir;
  let server;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'annals-node-tls-'));
    execFileSync('bash', [path.join(here, '..', 'make_test_cert.sh'), dir], { stdio: 'ignore' });
    server = await startServer([
      '--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem'),
    ]);
  }, HOOK);
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, HOOK);

  const urls = {
    '@eventstore/db-client 6.2.1': (ca) => `esdb://localhost:${server.port}?tls=true&tlsCAFile=${ca}`,
    '@kurrent/kurrentdb-client 1.3.1': (ca) =>
      `kurrentdb://localhost:${server.port}?tls=true&tlsCaFile=${ca}`,
  };

  for (const flavor of FLAVORS) {
    it(`${flavor.name} appends and reads over TLS`, T, async () => {
      const Client = flavor.pkg.EventStoreDBClient ?? flavor.pkg.KurrentDBClient;
      const client = Client.connectionString(urls[flavor.name](path.join(dir, 'ca.pem')));
      try {
        const stream = uniqueStream('tls');
        await client.appendToStream(stream, [
          flavor.pkg.jsonEvent({ type: 'Sealed', data: { over: 'tls' } }),
        ]);
        const events = await collect(client.readStream(stream));
        assert.equal(events.length, 1);
        assert.deepEqual(events[0].event.data, { over: 'tls' });
      } finally {
        await client.dispose();
      }
    });

    it(`${flavor.name} in plaintext cannot use a TLS server`, T, async () => {
      const client = flavor.connect({ host: '127.0.0.1', port: server.port });
      try {
        await assert.rejects(
          client.appendToStream(uniqueStream('plain'), [
            flavor.pkg.jsonEvent({ type: 'Plain', data: {} }),
          ], { deadline: 3_000 }),
        );
      } finally {
        await client.dispose();
      }
    });
  }
});
