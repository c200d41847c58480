// The example domain's plugin for the `annals` tool: the order fold (the
// decider's own evolve, with its snapshots) and the two projections, so that
//   annals --plugin libannals_orders_plugin.so replay order-77
// shows the domain's state instead of the generic JSON fold.
#include "annals/tool_plugin.h"
#include "orders/orders.h"
#include "orders/projections.h"

namespace orders = annals::examples::orders;

ANNALS_TOOL_PLUGIN(registry) {
  registry.AddFold(
      "order", "order",
      std::make_unique<annals::plugin::DeciderFold<orders::OrderDecider, orders::OrderEvents,
                                                   orders::OrderSnapshots>>());
  registry.AddProjection(orders::OrdersPerCustomer());
  registry.AddProjection(orders::RevenuePerDay());
}
