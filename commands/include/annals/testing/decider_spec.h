// annals/testing/decider_spec.h: given / when / then for deciders, for your
// own tests (no store involved; no test framework required: each Then
// returns OK or a status that says what differed).
//
//   DeciderSpec<OrderDecider, OrderEvents> spec(OrderDecider{}, OrderEvents{});
//   EXPECT_TRUE(spec.Given({placed}).When(ShipOrder{}).ThenRejects(
//       absl::StatusCode::kFailedPrecondition).ok());
//   EXPECT_TRUE(spec.Given({placed, added}).When(ship).ThenEvents({shipped}).ok());
//
// Events are compared through the codec (type and payload bytes), so
// protobuf messages need no operator==.
#ifndef ANNALS_TESTING_DECIDER_SPEC_H_
#define ANNALS_TESTING_DECIDER_SPEC_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "annals/decider.h"

namespace annals::testing {

template <typename D, typename EventCodec>
class DeciderSpec {
  static_assert(Decider<D>, "DeciderSpec needs a decider (annals/decider.h)");
  static_assert(EventCodecFor<EventCodec, typename D::Event>,
                "DeciderSpec needs an event codec for D::Event (annals/decider.h)");

 public:
  using State = typename D::State;
  using Event = typename D::Event;
  using Command = typename D::Command;

  DeciderSpec(D decider, EventCodec codec)
      : decider_(std::move(decider)), codec_(std::move(codec)) {}

  // The history: events already in the stream.
  DeciderSpec& Given(std::vector<Event> events) {
    given_ = std::move(events);
    return *this;
  }
  DeciderSpec& When(Command command) {
    when_ = std::move(command);
    return *this;
  }

  // OK if the command decides exactly `expected` (in order).
  absl::Status ThenEvents(const std::vector<Event>& expected) const {
    absl::StatusOr<std::vector<Event>> actual = Decide();
    if (!actual.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "expected ", expected.size(), " events, got a rejection: ", actual.status().ToString()));
    }
    if (actual->size() != expected.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "expected ", expected.size(), " events, got ", actual->size(), ": ", Describe(*actual)));
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      absl::StatusOr<EventData> want = codec_.Encode(expected[i]);
      absl::StatusOr<EventData> got = codec_.Encode((*actual)[i]);
      if (!want.ok()) return want.status();
      if (!got.ok()) return got.status();
      if (want->type != got->type || want->data != got->data) {
        return absl::FailedPreconditionError(
            absl::StrCat("event ", i, ": expected ", want->type, ", got ", got->type,
                         want->type == got->type ? " with other data" : ""));
      }
    }
    return absl::OkStatus();
  }

  // OK if the command is rejected with `code`.
  absl::Status ThenRejects(absl::StatusCode code) const {
    absl::StatusOr<std::vector<Event>> actual = Decide();
    if (actual.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "expected a rejection (", absl::StatusCodeToString(code), "), got ", Describe(*actual)));
    }
    if (actual.status().code() != code) {
      return absl::FailedPreconditionError(absl::StrCat("expected a rejection with ",
                                                        absl::StatusCodeToString(code), ", got ",
                                                        actual.status().ToString()));
    }
    return absl::OkStatus();
  }

  // OK if the state after the given events and the decided ones passes `check`.
  absl::Status ThenState(const std::function<bool(const State&)>& check) const {
    absl::StatusOr<std::vector<Event>> actual = Decide();
    if (!actual.ok()) return actual.status();
    State state = Fold(given_);
    for (const Event& e : *actual) state = decider_.evolve(std::move(state), e);
    return check(state)
               ? absl::OkStatus()
               : absl::FailedPreconditionError("the state after the command fails the check");
  }

 private:
  State Fold(const std::vector<Event>& events) const {
    State state = decider_.initial_state();
    for (const Event& e : events) state = decider_.evolve(std::move(state), e);
    return state;
  }
  absl::StatusOr<std::vector<Event>> Decide() const {
    if (!when_) return absl::FailedPreconditionError("DeciderSpec: When(command) was not called");
    return decider_.decide(*when_, Fold(given_));
  }
  std::string Describe(const std::vector<Event>& events) const {
    std::string out = "[";
    for (const Event& e : events) {
      absl::StatusOr<EventData> data = codec_.Encode(e);
      absl::StrAppend(&out, out.size() > 1 ? ", " : "", data.ok() ? data->type : "?");
    }
    return out + "]";
  }

  D decider_;
  EventCodec codec_;
  std::vector<Event> given_;
  std::optional<Command> when_;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTING_DECIDER_SPEC_H_
