#include "hash_chain.h"

#include <openssl/evp.h>

#include <cstring>

namespace annals::internal {

namespace {

// OpenSSL 3 looks the algorithm up on every init unless it is fetched once,
// and a context costs an allocation: both are kept per thread. The hash is on
// the writer's path for every event, so this is measurable (W2).
struct Sha256Context {
  Sha256Context() : md(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx(EVP_MD_CTX_new()) {}
  ~Sha256Context() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  EVP_MD* md;
  EVP_MD_CTX* ctx;
};

}  // namespace

namespace {

ChainHash Sha256(std::string_view a, std::string_view b) {
  thread_local Sha256Context sha;
  ChainHash out;
  unsigned int length = 0;
  EVP_DigestInit_ex(sha.ctx, sha.md, nullptr);
  EVP_DigestUpdate(sha.ctx, a.data(), a.size());
  EVP_DigestUpdate(sha.ctx, b.data(), b.size());
  EVP_DigestFinal_ex(sha.ctx, out.data(), &length);
  return out;
}

std::string_view View(const ChainHash& hash) {
  return std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

}  // namespace

ChainHash EventDigest(std::string_view hashed_bytes) { return Sha256(hashed_bytes, {}); }

ChainHash ChainStep(const ChainHash& previous, const ChainHash& digest) {
  return Sha256(View(previous), View(digest));
}

ChainHash ComputeChainHash(const ChainHash& previous, std::string_view hashed_bytes) {
  return ChainStep(previous, EventDigest(hashed_bytes));
}

ChainHash ComputeChainHashV1(const ChainHash& previous, std::string_view hashed_bytes) {
  return Sha256(View(previous), hashed_bytes);
}

void AppendChainHashField(const ChainHash& hash, std::string* value) {
  value->push_back(static_cast<char>(kChainHashTag));
  value->push_back(static_cast<char>(hash.size()));
  value->append(reinterpret_cast<const char*>(hash.data()), hash.size());
}

std::optional<SplitValue> SplitStoredValue(std::string_view value) {
  if (value.size() < kChainHashFieldSize) return std::nullopt;
  size_t field = value.size() - kChainHashFieldSize;
  if (static_cast<uint8_t>(value[field]) != kChainHashTag || value[field + 1] != 32) {
    return std::nullopt;
  }
  SplitValue split;
  split.hashed_bytes = value.substr(0, field);
  std::memcpy(split.stored_hash.data(), value.data() + field + 2, 32);
  return split;
}

std::string ChainHashToHex(const ChainHash& hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : hash) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

}  // namespace annals::internal
