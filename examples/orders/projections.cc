#include "orders/projections.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "orders/orders.h"

namespace annals::examples::orders {
namespace {

absl::StatusOr<int64_t> ReadNumber(ReadModelWriter& rm, std::string_view key) {
  absl::StatusOr<std::optional<std::string>> value = rm.Get(key);
  if (!value.ok()) return value.status();
  int64_t n = 0;
  if (*value && !absl::SimpleAtoi(**value, &n)) {
    return absl::DataLossError(
        absl::StrCat("read model value of '", std::string(key), "' is not a number"));
  }
  return n;
}

absl::Status AddNumber(ReadModelWriter& rm, std::string_view key, int64_t delta) {
  absl::StatusOr<int64_t> n = ReadNumber(rm, key);
  if (!n.ok()) return n.status();
  rm.Put(key, absl::StrCat(*n + delta));
  return absl::OkStatus();
}

}  // namespace

ProjectionSpec OrdersPerCustomer() {
  return {.name = "orders-per-customer",
          .filter = {.categories = {"order"}, .event_types = {"OrderPlaced"}},
          .apply = [](const EventRecord& e, ReadModelWriter& rm) -> absl::Status {
            absl::StatusOr<OrderDecider::Event> event = OrderEvents().Decode(e);
            if (!event.ok()) return event.status();
            return AddNumber(rm, std::get<OrderPlaced>(*event).customer(), 1);
          }};
}

ProjectionSpec RevenuePerDay() {
  return {
      .name = "revenue-per-day",
      .filter = {.categories = {"order"}, .event_types = {"ItemAdded", "OrderShipped"}},
      .apply = [](const EventRecord& e, ReadModelWriter& rm) -> absl::Status {
        absl::StatusOr<OrderDecider::Event> event = OrderEvents().Decode(e);
        if (!event.ok()) return event.status();
        const std::string order_key = "order/" + e.stream;
        if (const auto* added = std::get_if<ItemAdded>(&*event)) {
          return AddNumber(rm, order_key, added->item().quantity() * added->item().price_cents());
        }
        absl::StatusOr<int64_t> total = ReadNumber(rm, order_key);
        if (!total.ok()) return total.status();
        const std::string day = absl::FormatTime("%Y-%m-%d", e.recorded_at, absl::UTCTimeZone());
        return AddNumber(rm, "day/" + day, *total);
      }};
}

}  // namespace annals::examples::orders
