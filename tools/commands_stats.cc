// `annals stats`: the store's side of what `annals serve --metrics-port`
// exports (docs/SERVER.md, "Metrics"): the head, each column family's live
// table bytes and estimated keys (GetStoreStats), every durable subscriber
// and every projection with its lag (ListSubscribers, and
// ProjectionRunner::ListStored as `annals projections lag` reads them).
// Opens the store read-only, beside a running application.
#include <iostream>

#include "annals/projection.h"
#include "annals/stats.h"
#include "annals/subscription.h"
#include "commands.h"
#include "context.h"

namespace annals::tool {
namespace {

// A titled table of `rows` (each with the keys `columns`).
void PrintSection(const char* title, const std::vector<std::string>& columns, const Json& rows) {
  std::cout << "\n" << title << ":\n";
  if (rows.empty()) {
    std::cout << "  (none)\n";
    return;
  }
  RowWriter table(std::cout, Format::kTable, columns);
  for (const Json& row : rows) table.Add(row);
}

int RunStats(Context& ctx) {
  absl::StatusOr<EventStore*> store = ctx.OpenReadOnly();
  if (!store.ok()) return ctx.Fail(store.status());
  absl::StatusOr<StoreStats> stats = GetStoreStats(**store);
  if (!stats.ok()) return ctx.Fail(stats.status());
  absl::StatusOr<std::vector<SubscriberInfo>> subscribers = ListSubscribers(**store);
  if (!subscribers.ok()) return ctx.Fail(subscribers.status());
  auto projections = ProjectionRunner::ListStored(**store);
  if (!projections.ok()) return ctx.Fail(projections.status());

  Json summary = Json::object();
  summary["head_position"] = stats->head.value();
  uint64_t sst_bytes = 0, keys = 0;
  Json families = Json::array();
  for (const ColumnFamilyStats& family : stats->column_families) {
    sst_bytes += family.live_sst_bytes;
    keys += family.estimated_keys;
    families.push_back(Json{{"name", family.name},
                            {"live_sst_bytes", family.live_sst_bytes},
                            {"estimated_keys", family.estimated_keys}});
  }
  summary["live_sst_bytes"] = sst_bytes;
  summary["estimated_keys"] = keys;
  Json subscriber_rows = Json::array();
  for (const SubscriberInfo& s : *subscribers) {
    subscriber_rows.push_back(Json{{"name", s.name},
                                   {"stream", s.stream.empty() ? "$all" : s.stream},
                                   {"checkpoint", s.checkpoint.value()},
                                   {"lag", s.lag}});
  }
  Json projection_rows = Json::array();
  for (const ProjectionStatus& p : *projections) {
    projection_rows.push_back(Json{{"name", p.name},
                                   {"checkpoint", p.checkpoint.value()},
                                   {"lag", p.lag},
                                   {"seconds_behind", absl::ToDoubleSeconds(p.time_behind)}});
  }

  if (ctx.format() != Format::kTable) {
    summary["column_families"] = std::move(families);
    summary["subscribers"] = std::move(subscriber_rows);
    summary["projections"] = std::move(projection_rows);
    std::cout << Dump(summary, ctx.format() == Format::kJson ? 2 : -1) << "\n";
    return kExitOk;
  }
  PrintObject(std::cout, Format::kTable, summary);
  PrintSection("column families", {"name", "live_sst_bytes", "estimated_keys"}, families);
  PrintSection("durable subscribers", {"name", "stream", "checkpoint", "lag"}, subscriber_rows);
  PrintSection("projections", {"name", "checkpoint", "lag", "seconds_behind"}, projection_rows);
  return kExitOk;
}

}  // namespace

void AddStatsCommands(CLI::App& app, Action& chosen) {
  AddCommand(app, chosen, "stats",
             "The store's sizes per column family, and the lag of its durable subscribers and "
             "projections",
             RunStats);
}

}  // namespace annals::tool
