// Subjects and header values of relayed events (annals/relay.h).
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "annals/relay.h"
#include "annals/types.h"

namespace annals::relay {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void Escape(unsigned char c, std::string* out) {
  out->push_back('%');
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 0xF]);
}

// A subject token: NATS forbids `.`, `*`, `>` and whitespace in one; control
// bytes and `%` (the escape itself) are escaped too. UTF-8 stays as it is.
std::string Token(std::string_view text) {
  if (text.empty()) return "%";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F || c == '.' || c == '*' || c == '>' || c == '%') {
      Escape(c, &out);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string SubjectOf(std::string_view prefix, std::string_view stream) {
  return absl::StrCat(std::string(prefix), ".", Token(CategoryOf(stream)), ".", Token(stream));
}

namespace {

// Percent-encodes what a header value cannot hold, and `also`.
std::string Encode(std::string_view value, std::string_view also) {
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7E || c == '%' || also.find(ch) != std::string_view::npos) {
      Escape(c, &out);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

std::string EncodeHeaderValue(std::string_view value) { return Encode(value, ""); }

std::string EncodeMetadata(const std::map<std::string, std::string>& metadata) {
  std::string out;
  for (const auto& [key, value] : metadata) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, Encode(key, "=&"), "=", Encode(value, "=&"));
  }
  return out;
}

std::optional<std::map<std::string, std::string>> DecodeMetadata(std::string_view encoded) {
  std::map<std::string, std::string> metadata;
  if (encoded.empty()) return metadata;
  for (absl::string_view piece :
       absl::StrSplit(absl::string_view(encoded.data(), encoded.size()), '&')) {
    const std::string_view pair(piece.data(), piece.size());
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::optional<std::string> key = DecodeHeaderValue(pair.substr(0, eq));
    std::optional<std::string> value = DecodeHeaderValue(pair.substr(eq + 1));
    if (!key || !value || !metadata.emplace(*std::move(key), *std::move(value)).second) {
      return std::nullopt;
    }
  }
  return metadata;
}

std::optional<std::string> DecodeHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) return std::nullopt;
    const int high = HexValue(value[i + 1]), low = HexValue(value[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

}  // namespace annals::relay
