// annals/filter.h: EventFilter, which events a filtered read or subscription
// returns. Read annals/event_store.h first.
#ifndef ANNALS_FILTER_H_
#define ANNALS_FILTER_H_

#include <string>
#include <vector>
#include "annals/export.h"

#include "annals/event.h"

namespace annals {

// Selects events of the global log. Each non-empty list must match (any of
// its entries); empty lists match everything. Plain value; thread-compatible.
//
//   EventFilter f{.categories = {"order"}, .event_types = {"OrderPlaced"}};
//
// Reads choose the cheapest source: a filter with categories reads the
// category index, else one with event types reads the type index, else the
// log itself is scanned.
struct ANNALS_EXPORT EventFilter {
  // Stream categories (the part of the name before the first '-').
  std::vector<std::string> categories;
  // Event types, compared exactly.
  std::vector<std::string> event_types;
  // Stream name prefixes.
  std::vector<std::string> stream_prefixes;
  // Skips events of system streams (names starting with '$', such as the
  // `$$stream` audit streams of stream lifecycle operations).
  bool exclude_system_events = false;

  // True if the filter selects every event.
  bool empty() const {
    return categories.empty() && event_types.empty() && stream_prefixes.empty() &&
           !exclude_system_events;
  }
  // True if `record` is selected.
  bool Matches(const EventRecord& record) const;
};

}  // namespace annals

#endif  // ANNALS_FILTER_H_
