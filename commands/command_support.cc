// The non-template parts of the command layer (annals/command_support.h,
// annals/decider.h): command event ids, the snapshot writer thread, retry
// backoff, carrying a command's context onto its events, appending them, and
// reading a repeated command's events.
#include "annals/command_support.h"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "annals/base/mutex.h"

namespace annals {

EventId CommandEventId(std::string_view command_id, std::string_view stream, uint32_t index) {
  // A name-based UUID (version 8, RFC 9562) over the command, stream and
  // index; the NUL separators keep ("ab","c") and ("a","bc") apart.
  std::string name = "annals.command";
  name.push_back('\0');
  name.append(command_id);
  name.push_back('\0');
  name.append(stream);
  name.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) name.push_back(static_cast<char>(index >> shift));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
  std::array<uint8_t, 16> bytes;
  for (int i = 0; i < 16; ++i) bytes[i] = digest[i];
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x80);  // version 8
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 9562 variant
  return EventId(bytes);
}

namespace command_internal {

struct SnapshotWriter::Impl {
  explicit Impl(EventStore& store) : store(store) {}

  void Run() {
    for (;;) {
      std::function<absl::StatusOr<Snapshot>()> make;
      {
        internal::MutexLock lock(&mu);
        mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping, and everything is written
        make = std::move(queue.front());
        queue.pop_front();
      }
      absl::StatusOr<Snapshot> snapshot = make();
      const bool ok = snapshot.ok() && WriteSnapshot(store, *snapshot).ok();
      internal::MutexLock lock(&mu);
      (ok ? written : failed) += 1;
      ++done;
      mu.SignalAll();
    }
  }

  EventStore& store;
  mutable internal::Mutex mu;
  std::deque<std::function<absl::StatusOr<Snapshot>()>> queue ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  uint64_t enqueued ABSL_GUARDED_BY(mu) = 0;
  uint64_t done ABSL_GUARDED_BY(mu) = 0;
  uint64_t written ABSL_GUARDED_BY(mu) = 0;
  uint64_t failed ABSL_GUARDED_BY(mu) = 0;
  std::thread thread;
};

SnapshotWriter::SnapshotWriter(EventStore& store) : impl_(std::make_unique<Impl>(store)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
}

SnapshotWriter::~SnapshotWriter() {
  {
    internal::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    impl_->mu.SignalAll();
  }
  impl_->thread.join();
}

void SnapshotWriter::Enqueue(std::function<absl::StatusOr<Snapshot>()> make) {
  internal::MutexLock lock(&impl_->mu);
  impl_->queue.push_back(std::move(make));
  ++impl_->enqueued;
  impl_->mu.SignalAll();
}

void SnapshotWriter::Flush() {
  internal::MutexLock lock(&impl_->mu);
  const uint64_t target = impl_->enqueued;
  impl_->mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) { return impl_->done >= target; });
}

uint64_t SnapshotWriter::written() const {
  internal::MutexLock lock(&impl_->mu);
  return impl_->written;
}

uint64_t SnapshotWriter::failed() const {
  internal::MutexLock lock(&impl_->mu);
  return impl_->failed;
}

void SleepBackoff(const RetryPolicy& policy, int attempt) {
  absl::Duration wait = policy.initial_backoff;
  for (int i = 0; i < attempt; ++i) wait *= policy.multiplier;
  thread_local std::mt19937_64 rng(std::random_device{}());
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const double factor = 1.0 - jitter * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  absl::SleepFor(wait * factor);
}

void ApplyContext(const CommandContext& context, std::string_view stream, uint32_t index,
                  EventData& data) {
  data.metadata.insert(context.metadata.begin(), context.metadata.end());
  data.correlation_id = context.correlation_id;
  data.causation_id = context.causation_id.empty() ? context.command_id : context.causation_id;
  if (!context.command_id.empty()) {
    data.metadata[std::string(kCommandIdMetadataKey)] = context.command_id;
    data.event_id = CommandEventId(context.command_id, stream, index);
  }
}

absl::StatusOr<std::vector<EventRecord>> AppendRecorded(EventStore& store, AppendRequest request) {
  // Kept for the records: the append moves the requests' bytes.
  std::vector<EventRecord> records(request.events.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const EventData& e = request.events[i];
    records[i] = EventRecord{request.stream, Revision(0),      Position(0),    absl::Time(),
                             e.type,         e.data,           e.content_type, e.metadata,
                             e.event_id,     e.correlation_id, e.causation_id};
  }
  absl::StatusOr<AppendResult> appended = store.Append(std::move(request));
  if (!appended.ok()) return appended.status();
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].revision = Revision(appended->first_revision.value() + i);
    records[i].position = Position(appended->first_position.value() + i);
  }
  return records;
}

absl::StatusOr<std::optional<std::vector<EventRecord>>> RepeatedEvents(
    EventStore& store, std::string_view stream, std::string_view command_id) {
  // The event with the command's first derived id, then the ones after it
  // that carry its later ids.
  absl::StatusOr<std::optional<EventRecord>> first =
      store.FindEvent(stream, CommandEventId(command_id, stream, 0));
  if (!first.ok()) return first.status();
  if (!*first) return std::nullopt;
  std::vector<EventRecord> events;
  absl::StatusOr<std::unique_ptr<EventIterator>> it =
      store.ReadStream(stream, {.from = (*first)->revision});
  if (!it.ok()) return it.status();
  for (uint32_t i = 0; (*it)->Valid(); (*it)->Next(), ++i) {
    if ((*it)->record().event_id != CommandEventId(command_id, stream, i)) break;
    events.push_back((*it)->record());
  }
  if (!(*it)->status().ok()) return (*it)->status();
  // Hidden by retention since: the first event is all that is known.
  if (events.empty()) events.push_back(**std::move(first));
  return events;
}

}  // namespace command_internal
}  // namespace annals
