// Writes the engine-made seeds of the fuzz corpus (tests/fuzz/make_corpus.sh
// runs it): a store with the shapes events take — JSON and binary payloads,
// metadata, correlation and causation ids, bytes that are not UTF-8, every
// lifecycle operation — and from it the raw `log` values (stored_event), the
// raw `streams` values (stream_record) and the export lines
// (export_line, as `annals export` writes them).
// Usage: fuzz_seed_writer STORE_DIR CORPUS_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "annals/event_store.h"
#include "internal_access.h"
#include "payload.h"
#include "storage.h"

namespace annals {
namespace {

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

EventData Event(std::string type, std::string data, std::string content_type) {
  EventData event;
  event.type = std::move(type);
  event.data = std::move(data);
  event.content_type = std::move(content_type);
  return event;
}

void Append(EventStore& store, const std::string& stream, std::vector<EventData> events) {
  Check(store.Append(AppendRequest{.stream = stream, .events = std::move(events)}).status(),
        "append");
}

void Fill(EventStore& store) {
  Append(store, "order-77",
         {Event("OrderPlaced", R"({"customer":"ada"})", "application/json"),
          Event("ItemAdded", R"({"item":{"sku":"A-1","quantity":2,"price_cents":1500}})",
                "application/json"),
          Event("OrderShipped", R"({"carrier":"dhl"})", "application/json")});
  EventData with_context = Event(
      "ItemAdded", R"({"item":{"sku":"B-2","quantity":1,"price_cents":700}})", "application/json");
  with_context.metadata = {{"user", "alice"}, {"tenant", "acme"}};
  with_context.correlation_id = "checkout-78";
  with_context.causation_id = "cmd-1";
  with_context.event_id = *EventId::Parse("0190f3c4-7b1e-7c3a-9d2f-0a1b2c3d4e5f");
  Append(store, "order-78", {std::move(with_context)});
  // A protobuf payload (examples/orders ItemAdded) named by its content type.
  Append(store, "order-79",
         {Event("ItemAdded",
                std::string("\x0a\x0a\x0a\x03"
                            "A-1\x10\x02\x18\xac\x02",
                            12),
                "application/x-protobuf; messageType=annals.examples.orders.ItemAdded")});
  // Bytes that are not UTF-8 (exported as base64), an empty payload, NULs.
  EventData binary = Event("Blob", std::string("\xff\xfe\x00\x01", 4), "application/octet-stream");
  binary.metadata = {{"key", "caf\xc3\xa9"}, {"raw", std::string("\x80\x00", 2)}};
  Append(store, "blob-1", {std::move(binary), Event("Empty", "", "")});
  Append(store, "cart-5", {Event("CartOpened", "{}", "application/json")});
  Append(store, "cart-6", {Event("CartOpened", "{}", "application/json")});
  Append(store, "cart-7", {Event("CartOpened", "{}", "application/json")});
  Check(
      store.SetStreamMetadata("cart-5", StreamMetadata{.max_count = 10, .max_age = absl::Hours(24)})
          .status(),
      "metadata");
  Check(store.DeleteStream("cart-6").status(), "delete");
  Check(store.TombstoneStream("cart-7").status(), "tombstone");
}

void Write(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Raw values of one column family, one file each, at most `limit`.
void DumpCf(EventStore& store, internal::Cf cf, const std::filesystem::path& dir,
            const std::string& prefix) {
  absl::StatusOr<internal::EngineHandles> handles = internal::EngineHandlesOf(store);
  Check(handles.status(), "handles");
  std::unique_ptr<rocksdb::Iterator> it(
      handles->storage->db()->NewIterator(rocksdb::ReadOptions(), handles->storage->cf(cf)));
  int n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Write(dir / (prefix + std::to_string(++n)),
          std::string_view(it->value().data(), it->value().size()));
  }
}

}  // namespace
}  // namespace annals

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_seed_writer STORE_DIR CORPUS_DIR\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<annals::EventStore>> store = annals::EventStore::Open(
      argv[1], annals::StoreOptions{.create_if_missing = true, .sync = false});
  annals::Check(store.status(), "open");
  annals::Fill(**store);
  const std::filesystem::path corpus(argv[2]);
  for (const char* target : {"stored_event", "stream_record", "export_line"}) {
    std::filesystem::create_directories(corpus / target);
  }
  annals::DumpCf(**store, annals::internal::Cf::kLog, corpus / "stored_event", "engine-");
  annals::DumpCf(**store, annals::internal::Cf::kStreams, corpus / "stream_record", "engine-");
  absl::StatusOr<std::unique_ptr<annals::EventIterator>> it = (*store)->ReadAll({});
  annals::Check(it.status(), "read");
  for (; (*it)->Valid(); (*it)->Next()) {
    std::string line;
    annals::tool::AppendExportLine((*it)->record(), &line);
    annals::Write(
        corpus / "export_line" / ("engine-" + std::to_string((*it)->record().position.value())),
        line);
  }
  annals::Check((*it)->status(), "read");
  return 0;
}
