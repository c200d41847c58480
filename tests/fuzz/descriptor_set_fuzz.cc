// Fuzz target: a FileDescriptorSet given to the schema registry (`annals
// schema add FILE`, RegisterSchemas), and the registry's files
// as the tool decodes payloads with them (tools/lib/payload.h
// PayloadDecoder). For every input that parses as a set:
//  1. its files, as the registry stores them, make a PayloadDecoder
//     (FromSchemas: a DescriptorPool over a SimpleDescriptorDatabase), which
//     decodes a few fixed payloads, and the input itself, with every message
//     the files declare (DynamicMessageFactory, then JSON printing);
//  2. the set is registered in a store opened once per process (on tmpfs
//     where there is one), with one event type bound to its first message;
//     if the store accepts it, PayloadDecoder::Load must read it back, and it
//     decodes the same way. A store that accepted a set is replaced by a
//     fresh one, so every input meets an empty registry and a crash
//     reproduces from its input alone.
// Nothing may crash or hang, and no input may make a store hold schemas
// that the tool cannot load.
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
#include "annals/schemas.h"
#include "google/protobuf/descriptor.pb.h"
#include "payload.h"
#include "tests/fuzz/fuzz_support.h"

namespace annals::tool {
namespace {

namespace pb = ::google::protobuf;

// Payloads in the shapes events have: empty, the example domain's ItemAdded
// (a nested message of a string and two integers), and every wire type (varint,
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
      Bytes("\x08\x96\x01"                          // 1: varint 150
            "\x11\x01\x02\x03\x04\x05\x06\x07\x08"  // 2: fixed64
            "\x1a\x03"
            "abc"                                           // 3: bytes
            "\x23\x08\x01\x24"                              // 4: group {1: 1}
            "\x2d\x01\x02\x03\x04"                          // 5: fixed32
            "\x32\x03\x01\x02\x03"                          // 6: packed 1, 2, 3
            "\x38\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  // 7: varint -1
            "\x42\x02\xff\xfe"                              // 8: not UTF-8
            "\x4a\x04\x0a\x02\x08\x01"),                    // 9: {1: {1: 1}}
  };
  return *kPayloads;
}

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
    for (const auto& message : file.message_type())
      AddMessageNames(file.package(), message, &names);
  }
  return names;
}

// Decodes the fixed payloads and `input` as the bound type and as each of
// `names` (as content types name them).
void DecodeAll(const PayloadDecoder& decoder, const std::vector<std::string>& names,
               std::string_view input) {
  std::vector<std::string> payloads = FixedPayloads();
  payloads.emplace_back(input);
  EventRecord event;
  event.type = "Fuzzed";
  for (const std::string& payload : payloads) {
    event.data = payload;
    event.content_type.clear();  // the binding names the message
    (void)decoder.Display(event);
    for (const std::string& name : names) {
      event.content_type = "application/x-protobuf; messageType=" + name;
      (void)decoder.Display(event);
    }
  }
}

std::map<std::string, std::string> Bindings(const std::vector<std::string>& names) {
  std::map<std::string, std::string> bindings;
  if (!names.empty()) bindings["Fuzzed"] = names.front();
  return bindings;
}

// The set's files as the registry keeps them (by name, the last of a name
// winning), decoded without a store.
void DecodeWithoutStore(const pb::FileDescriptorSet& set, const std::vector<std::string>& names,
                        std::string_view input) {
  StoredSchemas schemas;
  for (const auto& file : set.file()) schemas.files[file.name()] = file.SerializeAsString();
  schemas.bindings = Bindings(names);
  absl::StatusOr<std::unique_ptr<PayloadDecoder>> decoder = PayloadDecoder::FromSchemas(schemas);
  if (decoder.ok()) DecodeAll(**decoder, names, input);
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
        (dir_ / "store").string(), StoreOptions{.create_if_missing = true,
                                                .sync = false,
                                                .tuning = {.write_buffer_bytes = 1 << 20,
                                                           .block_cache_bytes = 1 << 20,
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

void RegisterAndDecode(const std::vector<std::string>& names, std::string_view input) {
  static FuzzStore fuzz_store;  // closed and removed at exit
  if (!RegisterSchemas(fuzz_store.store(), input, Bindings(names)).ok()) return;
  {
    absl::StatusOr<std::unique_ptr<PayloadDecoder>> decoder =
        PayloadDecoder::Load(fuzz_store.store());
    ANNALS_FUZZ_CHECK(decoder.ok());
    DecodeAll(**decoder, names, input);
  }
  fuzz_store.Renew();
}

}  // namespace
}  // namespace annals::tool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Pools log every file that does not build; the target checks outcomes.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(input.data(), static_cast<int>(input.size()))) return 0;
  const std::vector<std::string> names = annals::tool::MessageNames(set);
  annals::tool::DecodeWithoutStore(set, names, input);
  annals::tool::RegisterAndDecode(names, input);
  return 0;
}
