#include "hash_chain.h"

#include <openssl/evp.h>

#include <cstring>

namespace annals::internal {

ChainHash ComputeChainHash(const ChainHash& previous, std::string_view hashed_bytes) {
  ChainHash out;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int length = 0;
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, previous.data(), previous.size());
  EVP_DigestUpdate(ctx, hashed_bytes.data(), hashed_bytes.size());
  EVP_DigestFinal_ex(ctx, out.data(), &length);
  EVP_MD_CTX_free(ctx);
  return out;
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
