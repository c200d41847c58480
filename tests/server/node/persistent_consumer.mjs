// A consumer of a persistent subscription to $all in a process of its own,
// for persistent.test.mjs to SIGKILL: it acks its first ACK events (telling
// the parent each one, over IPC, once the ack is written), then acks no
// more; when it holds BUFFER unacknowledged events it says so and waits to
// be killed. (The server sends the BUFFER-th of those only once each
// earlier ack of this consumer arrived, so none of them can come again.)
// Usage: node persistent_consumer.mjs HOST PORT GROUP ACK BUFFER
import { FLAVORS } from './harness.mjs';

const [host, port, group, ack, buffer] = process.argv.slice(2);
const ACK = Number(ack);
const BUFFER = Number(buffer);
const client = FLAVORS[0].connect({ host, port: Number(port) });
const subscription = client.subscribeToPersistentSubscriptionToAll(group, { bufferSize: BUFFER });
subscription.on('confirmation', () => process.send({ joined: true }));
let received = 0;
for await (const event of subscription) {
  received += 1;
  if (received <= ACK) {
    await subscription.ack(event);
    process.send({ id: event.event.id, stream: event.event.streamId, revision: String(event.event.revision) });
  } else if (received === ACK + BUFFER) {
    process.send({ holding: BUFFER });
  }
}
