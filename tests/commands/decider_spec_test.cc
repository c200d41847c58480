// DeciderSpec, the given/when/then fixture: events, rejections and states
// are checked, and mismatches are reported, not hidden.
#include "annals/testing/decider_spec.h"
#include "gtest/gtest.h"
#include "orders/orders.h"
#include "tests/commands/order_commands.h"
#include "tests/testing/status_matchers.h"

namespace annals::testing {
namespace {

using ::annals::examples::orders::ItemAdded;
using ::annals::examples::orders::OrderDecider;
using ::annals::examples::orders::OrderEvents;
using ::annals::examples::orders::OrderPlaced;
using ::annals::examples::orders::OrderShipped;
using ::annals::examples::orders::OrderState;

TEST(DeciderSpecTest, GivenWhenThen) {
  DeciderSpec<OrderDecider, OrderEvents> spec(OrderDecider{}, OrderEvents{});
  OrderPlaced placed;
  placed.set_customer("c");
  ItemAdded added;
  *added.mutable_item() = Add("a", 1, 5).item();
  OrderShipped shipped;
  shipped.set_carrier("DHL");
  EXPECT_OK(spec.Given({placed, added}).When(Ship("DHL")).ThenEvents({shipped}));
  EXPECT_OK(spec.Given({placed}).When(Ship()).ThenRejects(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(spec.Given({placed, added}).When(Ship()).ThenState([](const OrderState& s) {
    return s.status() == OrderState::SHIPPED;
  }));
  // Mismatches are reported, not hidden.
  EXPECT_FALSE(spec.Given({placed}).When(Ship()).ThenEvents({shipped}).ok());
  EXPECT_FALSE(spec.Given({placed, added}).When(Ship("UPS")).ThenEvents({shipped}).ok());
  EXPECT_FALSE(
      spec.Given({placed, added}).When(Ship()).ThenRejects(absl::StatusCode::kInternal).ok());
}

}  // namespace
}  // namespace annals::testing
