// Read models of the example orders domain (annals/projection.h):
//   "orders-per-customer": customer -> number of orders placed;
//   "revenue-per-day":     "day/YYYY-MM-DD" -> cents shipped that day (UTC),
//                          folding each order's running total under
//                          "order/<stream>" through its own batch.
#ifndef ANNALS_EXAMPLES_ORDERS_PROJECTIONS_H_
#define ANNALS_EXAMPLES_ORDERS_PROJECTIONS_H_

#include "annals/projection.h"

namespace annals::examples::orders {

ProjectionSpec OrdersPerCustomer();
ProjectionSpec RevenuePerDay();

}  // namespace annals::examples::orders

#endif  // ANNALS_EXAMPLES_ORDERS_PROJECTIONS_H_
