// Metrics and RenderPrometheus (metrics.h): the Prometheus text format,
// version 0.0.4 — `# HELP` and `# TYPE` before each family, counters named
// `_total`, histograms as cumulative `_bucket{le=...}` with `_sum` and
// `_count`.
#include "metrics.h"

#include <algorithm>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "annals/projection.h"
#include "annals/stats.h"
#include "annals/subscription.h"

namespace annals::server {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

void Family(std::string& out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

template <typename Number>
void Sample(std::string& out, absl::string_view name, Number value, absl::string_view labels = "") {
  absl::StrAppend(&out, name, labels, " ", value, "\n");
}

// A label set of one label, its value escaped as the format asks.
std::string Label(absl::string_view name, absl::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return absl::StrCat("{", name, "=\"", escaped, "\"}");
}

void RenderStore(std::string& out, const StoreStats& stats) {
  Family(out, "annals_store_head_position", "gauge",
         "The store's head: its last committed position.");
  Sample(out, "annals_store_head_position", stats.head.value());
  Family(out, "annals_store_commit_groups_total", "counter",
         "Commit groups (one RocksDB write batch each) since the store was opened.");
  Sample(out, "annals_store_commit_groups_total", stats.commit_groups);
  Family(out, "annals_store_events_appended_total", "counter",
         "Events committed since the store was opened.");
  Sample(out, "annals_store_events_appended_total", stats.events_appended);
  Family(out, "annals_store_bytes_appended_total", "counter",
         "Bytes of the committed write batches since the store was opened.");
  Sample(out, "annals_store_bytes_appended_total", stats.bytes_appended);
  Family(out, "annals_store_synced_groups_total", "counter",
         "Commit groups written with an fsync of the write-ahead log.");
  Sample(out, "annals_store_synced_groups_total", stats.synced_groups);
  Family(out, "annals_store_commit_group_requests", "histogram",
         "Requests (appends, lifecycle operations) per commit group.");
  for (int i = 0; i < StoreStats::kGroupSizeBuckets; ++i) {
    Sample(out, "annals_store_commit_group_requests_bucket", stats.group_size_buckets[i],
           Label("le", absl::StrCat(StoreStats::kGroupSizeBounds[i])));
  }
  Sample(out, "annals_store_commit_group_requests_bucket", stats.commit_groups,
         Label("le", "+Inf"));
  Sample(out, "annals_store_commit_group_requests_sum", stats.group_requests_sum);
  Sample(out, "annals_store_commit_group_requests_count", stats.commit_groups);
  Family(out, "annals_store_commit_group_requests_max", "gauge",
         "The most requests one commit group held since the store was opened.");
  Sample(out, "annals_store_commit_group_requests_max", stats.group_requests_max);
  Family(out, "annals_store_live_sst_bytes", "gauge",
         "Bytes of the live table files of each column family.");
  for (const ColumnFamilyStats& family : stats.column_families) {
    Sample(out, "annals_store_live_sst_bytes", family.live_sst_bytes,
           Label("column_family", family.name));
  }
  Family(out, "annals_store_estimated_keys", "gauge",
         "RocksDB's estimate of the keys of each column family.");
  for (const ColumnFamilyStats& family : stats.column_families) {
    Sample(out, "annals_store_estimated_keys", family.estimated_keys,
           Label("column_family", family.name));
  }
}

void RenderSubscribers(std::string& out, const std::vector<SubscriberInfo>& subscribers) {
  Family(out, "annals_subscriber_checkpoint_position", "gauge",
         "Each durable subscriber's stored checkpoint.");
  for (const SubscriberInfo& s : subscribers) {
    Sample(out, "annals_subscriber_checkpoint_position", s.checkpoint.value(),
           Label("subscriber", s.name));
  }
  Family(out, "annals_subscriber_lag_positions", "gauge",
         "Positions of the log each durable subscriber is behind the head.");
  for (const SubscriberInfo& s : subscribers) {
    Sample(out, "annals_subscriber_lag_positions", s.lag, Label("subscriber", s.name));
  }
}

// Projections as the store records them (ProjectionRunner::ListStored): the
// ones this process does not run are stored too, so their lag shows.
void RenderProjections(std::string& out, const std::vector<ProjectionStatus>& projections) {
  Family(out, "annals_projection_checkpoint_position", "gauge",
         "Each projection's stored checkpoint (its serving version).");
  for (const ProjectionStatus& p : projections) {
    Sample(out, "annals_projection_checkpoint_position", p.checkpoint.value(),
           Label("projection", p.name));
  }
  Family(out, "annals_projection_lag_positions", "gauge",
         "Positions of the log each projection is behind the head.");
  for (const ProjectionStatus& p : projections) {
    Sample(out, "annals_projection_lag_positions", p.lag, Label("projection", p.name));
  }
  Family(out, "annals_projection_parked_events", "gauge",
         "Events each projection parked and has not retried or skipped.");
  for (const ProjectionStatus& p : projections) {
    Sample(out, "annals_projection_parked_events", p.parked, Label("projection", p.name));
  }
}

}  // namespace

void Metrics::AppendCallDone(absl::Duration latency) {
  append_calls_.fetch_add(1, kRelaxed);
  const double seconds = absl::ToDoubleSeconds(latency);
  for (int i = 0; i < kLatencyBuckets; ++i) {
    if (seconds <= kLatencyBounds[i]) {
      latency_buckets_[i].fetch_add(1, kRelaxed);
      break;
    }
  }
  latency_sum_ns_.fetch_add(static_cast<uint64_t>(absl::ToInt64Nanoseconds(latency)), kRelaxed);
}

void Metrics::Appended(uint64_t events, uint64_t bytes) {
  appended_events_.fetch_add(events, kRelaxed);
  appended_bytes_.fetch_add(bytes, kRelaxed);
}

void Metrics::ReadStarted(bool subscription) {
  if (subscription) {
    subscriptions_.fetch_add(1, kRelaxed);
    subscriptions_open_.fetch_add(1, kRelaxed);
  } else {
    reads_.fetch_add(1, kRelaxed);
  }
}

void Metrics::ReadEnded(bool subscription) {
  if (subscription) subscriptions_open_.fetch_sub(1, kRelaxed);
}

void Metrics::Render(std::string& out) const {
  // The count first: a call counted in a bucket is then in the count too.
  const uint64_t calls = append_calls_.load(kRelaxed);
  Family(out, "annals_server_append_calls_total", "counter",
         "Appends answered, Streams.Append calls and BatchAppend appends alike (written, refused "
         "or failed).");
  Sample(out, "annals_server_append_calls_total", calls);
  Family(out, "annals_server_appended_events_total", "counter", "Events written by those appends.");
  Sample(out, "annals_server_appended_events_total", appended_events_.load(kRelaxed));
  Family(out, "annals_server_appended_bytes_total", "counter",
         "Bytes (data + metadata) of the events written by Streams.Append calls.");
  Sample(out, "annals_server_appended_bytes_total", appended_bytes_.load(kRelaxed));
  Family(out, "annals_server_append_duration_seconds", "histogram",
         "Time from an append's first message to its answer.");
  uint64_t cumulative = 0;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    cumulative += latency_buckets_[i].load(kRelaxed);
    Sample(out, "annals_server_append_duration_seconds_bucket", cumulative,
           Label("le", absl::StrCat(kLatencyBounds[i])));
  }
  // Calls slower than the last bound, or ended after `calls` was read.
  const uint64_t count = std::max(calls, cumulative);
  Sample(out, "annals_server_append_duration_seconds_bucket", count, Label("le", "+Inf"));
  Sample(out, "annals_server_append_duration_seconds_sum",
         static_cast<double>(latency_sum_ns_.load(kRelaxed)) / 1e9);
  Sample(out, "annals_server_append_duration_seconds_count", count);
  Family(out, "annals_server_reads_total", "counter",
         "Streams.Read calls that read (not subscriptions).");
  Sample(out, "annals_server_reads_total", reads_.load(kRelaxed));
  Family(out, "annals_server_subscriptions_total", "counter",
         "Streams.Read calls that subscribed.");
  Sample(out, "annals_server_subscriptions_total", subscriptions_.load(kRelaxed));
  Family(out, "annals_server_subscriptions_open", "gauge", "Subscriptions open now.");
  Sample(out, "annals_server_subscriptions_open", subscriptions_open_.load(kRelaxed));
}

std::string RenderPrometheus(const Metrics& metrics, EventStore& store) {
  std::string out;
  metrics.Render(out);
  absl::StatusOr<StoreStats> stats = GetStoreStats(store);
  if (stats.ok()) {
    RenderStore(out, *stats);
  } else {
    absl::StrAppend(&out, "# store stats unavailable: ", stats.status().message(), "\n");
  }
  absl::StatusOr<std::vector<SubscriberInfo>> subscribers = ListSubscribers(store);
  if (subscribers.ok()) {
    RenderSubscribers(out, *subscribers);
  } else {
    absl::StrAppend(&out, "# durable subscribers unavailable: ", subscribers.status().message(),
                    "\n");
  }
  absl::StatusOr<std::vector<ProjectionStatus>> projections = ProjectionRunner::ListStored(store);
  if (projections.ok()) {
    RenderProjections(out, *projections);
  } else {
    absl::StrAppend(&out, "# projections unavailable: ", projections.status().message(), "\n");
  }
  return out;
}

}  // namespace annals::server
