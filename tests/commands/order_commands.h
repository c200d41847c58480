// Test-only: the example orders domain's commands, built in one call each,
// for the command-layer tests.
#ifndef ANNALS_TESTS_COMMANDS_ORDER_COMMANDS_H_
#define ANNALS_TESTS_COMMANDS_ORDER_COMMANDS_H_

#include <cstdint>
#include <string>
#include <utility>

#include "orders/orders.h"

namespace annals::testing {

inline examples::orders::PlaceOrder Place(std::string customer) {
  examples::orders::PlaceOrder c;
  c.set_customer(std::move(customer));
  return c;
}
inline examples::orders::AddItem Add(std::string sku, int quantity, int64_t price) {
  examples::orders::AddItem c;
  c.mutable_item()->set_sku(std::move(sku));
  c.mutable_item()->set_quantity(quantity);
  c.mutable_item()->set_price_cents(price);
  return c;
}
inline examples::orders::ShipOrder Ship(std::string carrier = "DHL") {
  examples::orders::ShipOrder c;
  c.set_carrier(std::move(carrier));
  return c;
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_COMMANDS_ORDER_COMMANDS_H_
