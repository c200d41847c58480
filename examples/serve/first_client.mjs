// README.md's "Serve it": a Node program with the official KurrentDB client
// against `annals serve`, run by ctest (readme_serve) through serve_tour.sh.
import { KurrentDBClient, jsonEvent, START } from "@kurrent/kurrentdb-client";

const client = KurrentDBClient.connectionString(
  process.env.KURRENTDB_URL ?? "kurrentdb://127.0.0.1:2113?tls=false",
);

// Append two events to a new stream (a retry with the same ids writes nothing).
const appended = await client.appendToStream(
  "order-77",
  [
    jsonEvent({ type: "OrderPlaced", data: { customer: "ada", total: 42 } }),
    jsonEvent({ type: "ItemAdded", data: { sku: "tea", quantity: 2 } }),
  ],
  { streamState: "no_stream" },
);
console.log(`appended: order-77 is at revision ${appended.nextExpectedRevision}`);

// Subscribe from the start: the stored events first, then live ones as they come.
const subscription = client.subscribeToStream("order-77", { fromRevision: START });
let seen = 0;
for await (const { event } of subscription) {
  console.log(`${event.revision}: ${event.type} ${JSON.stringify(event.data)}`);
  if (++seen === 2) break;
}
await subscription.unsubscribe();
await client.dispose();
