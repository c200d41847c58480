// The decider concept and the codec concepts, checked at compile time (a
// non-decider is rejected), and a plain-struct decider with a hand-written
// codec working end to end: deciders need no protobuf.
#include <cstdint>
#include <string>
#include <vector>

#include "annals/command_handler.h"
#include "annals/decider.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_store.h"

namespace annals::testing {
namespace {

using ::annals::examples::orders::OrderDecider;
using ::annals::examples::orders::OrderEvents;
using ::annals::examples::orders::OrderSnapshots;
using ::annals::examples::orders::OrderState;

struct NotADecider {
  using State = int;
};
static_assert(Decider<OrderDecider>);
static_assert(!Decider<NotADecider>);
static_assert(EventCodecFor<OrderEvents, OrderDecider::Event>);
static_assert(StateCodecFor<OrderSnapshots, OrderState>);
static_assert(!StateCodecFor<NoSnapshots, OrderState>);

// A plain-struct decider with a hand-written codec: deciders need no protobuf.
struct Counter {
  struct State {
    int64_t value = 0;
  };
  struct Event {
    int64_t delta = 0;
  };
  struct Command {
    int64_t add = 0;
  };
  State initial_state() const { return {}; }
  State evolve(const State& s, const Event& e) const { return {s.value + e.delta}; }
  absl::StatusOr<std::vector<Event>> decide(const Command& c, const State& s) const {
    if (s.value + c.add < 0) return absl::FailedPreconditionError("would go negative");
    return std::vector<Event>{{c.add}};
  }
};
struct CounterCodec {
  absl::StatusOr<EventData> Encode(const Counter::Event& e) const {
    return EventData{
        .type = "Added", .data = std::to_string(e.delta), .content_type = "text/plain"};
  }
  absl::StatusOr<Counter::Event> Decode(const EventRecord& r) const {
    if (r.type != "Added") return absl::InvalidArgumentError("unknown type " + r.type);
    return Counter::Event{std::stoll(r.data)};
  }
};
static_assert(Decider<Counter>);

TEST(CommandHandlerTest, PlainStructDecidersWork) {
  TempStore store;
  CommandHandler<Counter, CounterCodec> handler(*store, Counter{}, CounterCodec{});
  ASSERT_OK(handler.Handle("counter-1", {5}).status());
  ASSERT_OK_AND_ASSIGN(auto result, handler.Handle("counter-1", {-3}));
  EXPECT_EQ(result.state.value, 2);
  EXPECT_EQ(result.revision, Revision(1));
  EXPECT_THAT(handler.Handle("counter-1", {-3}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace annals::testing
