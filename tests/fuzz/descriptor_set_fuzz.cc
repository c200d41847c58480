// Fuzz target: a FileDescriptorSet given to the schema registry (`annals
// schema add FILE`, EventStore::RegisterSchemas), and the registry's files
// as the tool decodes payloads with them (tools/lib/payload.h
// PayloadDecoder). For every input:
//  1. as PayloadDecoder does, the set's files go into a
//     SimpleDescriptorDatabase under a DescriptorPool, and a few fixed
//     payloads (and the input itself) are decoded with every message of
//     every file that builds, through DynamicMessageFactory and JSON
//     printing;
//  2. the set is registered in a store opened once per process (on tmpfs
//     where there is one) with one event type bound to its first message;
//     if the store accepts it, PayloadDecoder::Load must read it back and
//     decode with every message. A store that accepted a set is replaced
//     by a fresh one, so every input meets an empty registry and a crash
//     reproduces from its input alone.
// Nothing may crash, and no input may make a store hold schemas that the
// tool cannot load.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "annals/event_store.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "lib/payload.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::tool {
namespace {

namespace pb = ::google::protobuf;

// Payloads in the shapes events have: empty, the example domain's ItemAdded
// (a string, an int and a nested message), and every wire type (varint,
// fixed64, bytes, a group, fixed32, a packed run, a negative varint, bytes
// that are not UTF-8).
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

const std::vector<std::string>& FixedPayloads() {
  static const std::vector<std::string>* const kPayloads = new std::vector<std::string>{
      std::string(),
      Bytes("\x0a\x0a\x0a\x03"
            "A-1\x10\x02\x18\xac\x02"),
      Bytes("\x08\x96\x01"                                  // 1: varint 150
            "\x11\x01\x02\x03\x04\x05\x06\x07\x08"          // 2: fixed64
            "\x1a\x03"
            "abc"                                            // 3: bytes
            "\x23\x08\x01\x24"                              // 4: group {1: 1}
            "\x2d\x01\x02\x03\x04"                          // 5: fixed32
            "\x32\x03\x01\x02\x03"                          // 6: packed 1, 2, 3
            "\x38\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  // 7: varint -1
            "\x42\x02\xff\xfe"                              // 8: not UTF-8
            "\x4a\x04\x0a\x02\x08\x01"),                    // 9: {1: {1: 1}}
  };
  return *kPayloads;
}

class CollectNothing : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string&, const std::string&, const pb::Message*, ErrorLocation,
                const std::string&) override {}
};

void AddMessageNames(const std::string& scope, const pb::DescriptorProto& message,
                     std::vector<std::string>* names) {
  const std::string name = scope.empty() ? message.name() : scope + "." + message.name();
  names->push_back(name);
  for (const auto& nested : message.nested_type()) AddMessageNames(name, nested, names);
}

// Every message the set's files declare, by full name (as bindings and
// content types name them), whether or not its file builds.
std::vector<std::string> MessageNames(const pb::FileDescriptorSet& set) {
  std::vector<std::string> names;
  for (const auto& file : set.file()) {
    for (const auto& message : file.message_type()) AddMessageNames(file.package(), message, &names);
  }
  return names;
}

// As PayloadDecoder::Decode does for a registered message.
void DecodeAs(const pb::Descriptor& descriptor, pb::DynamicMessageFactory& factory,
              std::string_view input) {
  const pb::Message* prototype = factory.GetPrototype(&descriptor);
  ANNALS_FUZZ_CHECK(prototype != nullptr);
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::vector<std::string_view> payloads(FixedPayloads().begin(), FixedPayloads().end());
  payloads.push_back(input);
  for (std::string_view payload : payloads) {
    std::unique_ptr<pb::Message> message(prototype->New());
    std::string json;
    if (message->ParseFromArray(payload.data(), static_cast<int>(payload.size())) &&
        pb::util::MessageToJsonString(*message, &json, options).ok()) {
      // As the tool goes on: it parses the JSON and prints it.
      const Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) (void)parsed.dump();
    }
  }
}

void DecodeWithPool(const pb::FileDescriptorSet& set, std::string_view input) {
  pb::SimpleDescriptorDatabase database;
  for (const auto& file : set.file()) {
    if (!database.Add(file)) return;  // PayloadDecoder::Load refuses the registry
  }
  CollectNothing errors;
  pb::DescriptorPool pool(&database, &errors);
  pb::DynamicMessageFactory factory(&pool);
  for (const std::string& name : MessageNames(set)) {
    if (const pb::Descriptor* descriptor = pool.FindMessageTypeByName(name)) {
      DecodeAs(*descriptor, factory, input);
    }
  }
}

// One store per process, in a temporary directory removed at exit.
class FuzzStore {
 public:
  FuzzStore() {
    std::error_code ec;
    const std::filesystem::path shm("/dev/shm");
    const std::filesystem::path base =
        std::filesystem::is_directory(shm, ec) ? shm : std::filesystem::temp_directory_path();
    std::string pattern = (base / "annals-fuzz-XXXXXX").string();
    ANNALS_FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    Renew();
  }
  ~FuzzStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FuzzStore(const FuzzStore&) = delete;
  FuzzStore& operator=(const FuzzStore&) = delete;

  EventStore& store() { return *store_; }

  // Replaces the store with an empty one.
  void Renew() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_ / "store", ec);
    absl::StatusOr<std::unique_ptr<EventStore>> store = EventStore::Open(
        (dir_ / "store").string(),
        StoreOptions{.create_if_missing = true,
                     .sync = false,
                     .tuning = {.write_buffer_bytes = 1 << 20, .block_cache_bytes = 1 << 20,
                                .background_jobs = 1}});
    if (!store.ok()) {
      std::fprintf(stderr, "cannot open the fuzz store in %s: %s\n", dir_.c_str(),
                   std::string(store.status().message()).c_str());
      std::abort();
    }
    store_ = *std::move(store);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<EventStore> store_;
};

void RegisterAndDecode(const pb::FileDescriptorSet& set, std::string_view input) {
  static FuzzStore fuzz_store;  // closed and removed at exit
  const std::vector<std::string> names = MessageNames(set);
  std::map<std::string, std::string> bindings;
  if (!names.empty()) bindings["Fuzzed"] = names.front();
  if (!fuzz_store.store().RegisterSchemas(input, bindings).ok()) return;

  absl::StatusOr<std::unique_ptr<PayloadDecoder>> decoder = PayloadDecoder::Load(fuzz_store.store());
  ANNALS_FUZZ_CHECK(decoder.ok());
  EventRecord event;
  event.type = "Fuzzed";
  for (const std::string& payload : FixedPayloads()) {
    event.data = payload;
    event.content_type.clear();  // the binding names the message
    (void)(*decoder)->Display(event);
    for (const std::string& name : names) {
      event.content_type = "application/x-protobuf; messageType=" + name;
      (void)(*decoder)->Display(event);
    }
  }
  decoder->reset();
  fuzz_store.Renew();
}

}  // namespace
}  // namespace annals::tool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Pools log every file that does not build; the targets check outcomes.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(input.data(), static_cast<int>(input.size()))) return 0;
  annals::tool::DecodeWithPool(set, input);
  annals::tool::RegisterAndDecode(set, input);
  return 0;
}
