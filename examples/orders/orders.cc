#include "orders/orders.h"

#include "absl/strings/str_cat.h"

namespace annals::examples::orders {
namespace {

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

constexpr int kMaxLines = 100;

}  // namespace

OrderState OrderDecider::evolve(OrderState next, const Event& event) const {
  std::visit(
      Overloaded{
          [&](const OrderPlaced& e) {
            next.set_status(OrderState::OPEN);
            next.set_customer(e.customer());
          },
          [&](const ItemAdded& e) {
            *next.add_items() = e.item();
            next.set_total_cents(next.total_cents() + e.item().quantity() * e.item().price_cents());
          },
          [&](const OrderShipped&) { next.set_status(OrderState::SHIPPED); },
          [&](const OrderCancelled&) { next.set_status(OrderState::CANCELLED); },
      },
      event);
  return next;
}

absl::StatusOr<std::vector<OrderDecider::Event>> OrderDecider::decide(
    const Command& command, const OrderState& state) const {
  using Events = std::vector<Event>;
  auto rejected = [](std::string why) -> absl::StatusOr<Events> {
    return absl::FailedPreconditionError(std::move(why));
  };
  return std::visit(
      Overloaded{
          [&](const PlaceOrder& c) -> absl::StatusOr<Events> {
            if (state.status() != OrderState::NONE) return rejected("the order is already placed");
            OrderPlaced placed;
            placed.set_customer(c.customer());
            return Events{placed};
          },
          [&](const AddItem& c) -> absl::StatusOr<Events> {
            if (state.status() != OrderState::OPEN) return rejected("the order is not open");
            if (state.items_size() >= kMaxLines) {
              return rejected(absl::StrCat("an order has at most ", kMaxLines, " lines"));
            }
            ItemAdded added;
            *added.mutable_item() = c.item();
            return Events{added};
          },
          [&](const ShipOrder& c) -> absl::StatusOr<Events> {
            if (state.status() != OrderState::OPEN) return rejected("only an open order ships");
            if (state.items_size() == 0) return rejected("an empty order cannot ship");
            OrderShipped shipped;
            shipped.set_carrier(c.carrier());
            return Events{shipped};
          },
          [&](const CancelOrder& c) -> absl::StatusOr<Events> {
            if (state.status() == OrderState::SHIPPED)
              return rejected("a shipped order cannot be cancelled");
            if (state.status() == OrderState::CANCELLED) return Events{};  // already: nothing to do
            if (state.status() == OrderState::NONE) return rejected("no such order");
            OrderCancelled cancelled;
            cancelled.set_reason(c.reason());
            return Events{cancelled};
          },
      },
      command);
}

void AddOrderValidators(OrderHandler& handler) {
  handler.AddValidator<PlaceOrder>(
      [](const PlaceOrder& c) { return CheckRequiredFields(c, {"customer"}); });
  handler.AddValidator<AddItem>([](const AddItem& c) -> absl::Status {
    if (absl::Status s = CheckRequiredFields(c, {"item"}); !s.ok()) return s;
    if (absl::Status s = CheckRequiredFields(c.item(), {"sku"}); !s.ok()) return s;
    if (c.item().quantity() < 1)
      return absl::InvalidArgumentError("AddItem: quantity must be >= 1");
    if (c.item().price_cents() < 0)
      return absl::InvalidArgumentError("AddItem: price must be >= 0");
    return absl::OkStatus();
  });
  handler.AddValidator<ShipOrder>(
      [](const ShipOrder& c) { return CheckRequiredFields(c, {"carrier"}); });
}

}  // namespace annals::examples::orders
