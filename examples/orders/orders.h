// The example orders domain: a decider over protobuf commands, events and
// state, its codecs, and its validators. Used by the README demo, the tests
// of the command layer and the benchmarks.
//
// Rules: an order is placed once; items (quantity >= 1, price >= 0) can be
// added while it is open and at most 100 lines; an empty order cannot ship;
// a shipped order cannot be cancelled and a cancelled one cannot ship.
#ifndef ANNALS_EXAMPLES_ORDERS_ORDERS_H_
#define ANNALS_EXAMPLES_ORDERS_ORDERS_H_

#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "annals/command_handler.h"
#include "annals/proto_codec.h"
#include "orders/orders.pb.h"

namespace annals::examples::orders {

// [START readme-decider]
struct OrderDecider {
  using State = OrderState;
  using Event = std::variant<OrderPlaced, ItemAdded, OrderShipped, OrderCancelled>;
  using Command = std::variant<PlaceOrder, AddItem, ShipOrder, CancelOrder>;

  State initial_state() const { return State(); }
  // Takes the state by value: loads move it in and it is updated in place.
  State evolve(State state, const Event& event) const;
  absl::StatusOr<std::vector<Event>> decide(const Command& command, const State& state) const;
};

using OrderEvents = ProtoEventCodec<OrderPlaced, ItemAdded, OrderShipped, OrderCancelled>;
using OrderSnapshots = ProtoStateCodec<OrderState>;
using OrderHandler = CommandHandler<OrderDecider, OrderEvents, OrderSnapshots>;
// [END readme-decider]

// Registers the command shape checks (required fields, ranges).
void AddOrderValidators(OrderHandler& handler);

}  // namespace annals::examples::orders

#endif  // ANNALS_EXAMPLES_ORDERS_ORDERS_H_
