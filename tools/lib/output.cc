#include "output.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace annals::tool {
namespace {

// Rows a table looks at before fixing its column widths.
constexpr size_t kWidthSampleRows = 256;

// Code point ranges, sorted, that a terminal shows in no column: combining
// marks (they sit on the character before), zero-width and bidi controls,
// variation selectors, Hangul medial vowels.
constexpr std::pair<char32_t, char32_t> kZeroWidth[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5},   {0x05C7, 0x05C7}, {0x0610, 0x061A}, {0x064B, 0x065F}, {0x0670, 0x0670},
    {0x06D6, 0x06DC},   {0x06DF, 0x06E4}, {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0711, 0x0711},
    {0x0730, 0x074A},   {0x07A6, 0x07B0}, {0x0900, 0x0902}, {0x093C, 0x093C}, {0x0941, 0x0948},
    {0x094D, 0x094D},   {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E}, {0x1160, 0x11FF},
    {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
    {0x20D0, 0x20FF},   {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0000, 0xE007F},
    {0xE0100, 0xE01EF},
};

// Code point ranges, sorted, that take two columns: East Asian Wide and
// Fullwidth (Hangul, CJK, kana, fullwidth forms) and the emoji blocks.
constexpr std::pair<char32_t, char32_t> kDoubleWidth[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
    {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F900, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

template <size_t N>
bool InRanges(const std::pair<char32_t, char32_t> (&ranges)[N], char32_t c) {
  // The first range that ends at or after c.
  const auto* it = std::lower_bound(std::begin(ranges), std::end(ranges), c,
                                    [](const auto& range, char32_t x) { return range.second < x; });
  return it != std::end(ranges) && it->first <= c;
}

size_t CodePointWidth(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c < 0xA0)) return 0;  // control characters print nothing
  if (c < 0x300) return 1;
  if (InRanges(kZeroWidth, c)) return 0;
  return InRanges(kDoubleWidth, c) ? 2 : 1;
}

// The code point starting at s[*i] (advancing *i past it); a byte that
// starts no valid UTF-8 sequence stands for itself (one column, as the
// replacement character a terminal shows for it).
char32_t NextCodePoint(std::string_view s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(*i);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || *i + length > s.size()) {
    ++*i;
    return 0xFFFD;
  }
  char32_t c = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(*i + k) & 0xC0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    c = (c << 6) | (byte(*i + k) & 0x3F);
  }
  *i += length;
  return c;
}

}  // namespace

size_t DisplayWidth(std::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) width += CodePointWidth(NextCodePoint(s, &i));
  return width;
}

std::string Dump(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string Cell(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return Dump(value);
}

RowWriter::RowWriter(std::ostream& out, Format format, std::vector<std::string> columns)
    : out_(out), format_(format), columns_(std::move(columns)) {
  if (format_ == Format::kTable) {
    widths_.resize(columns_.size());
    for (size_t i = 0; i < columns_.size(); ++i) widths_[i] = DisplayWidth(columns_[i]);
  }
}

RowWriter::~RowWriter() { Finish(); }

void RowWriter::Add(Json row) {
  ++rows_;
  switch (format_) {
    case Format::kJsonl:
      out_ << Dump(row) << "\n";
      return;
    case Format::kJson:
      out_ << (rows_ == 1 ? "[\n  " : ",\n  ") << Dump(row);
      return;
    case Format::kTable:
      break;
  }
  std::vector<std::string> cells;
  for (const std::string& column : columns_) {
    auto it = row.find(column);
    std::string cell = it == row.end() ? "" : Cell(*it);
    std::replace(cell.begin(), cell.end(), '\n', ' ');
    cells.push_back(std::move(cell));
  }
  if (widths_fixed_) {
    PrintTableRow(cells);
    return;
  }
  for (size_t i = 0; i < cells.size(); ++i)
    widths_[i] = std::max(widths_[i], DisplayWidth(cells[i]));
  pending_.push_back(std::move(cells));
  if (pending_.size() >= kWidthSampleRows) FlushTable();
}

void RowWriter::PrintTableRow(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    line += cells[i];
    if (i + 1 < cells.size())
      line.append(widths_[i] - std::min(widths_[i], DisplayWidth(cells[i])) + 2, ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out_ << line << "\n";
}

void RowWriter::FlushTable() {
  if (!widths_fixed_) {
    widths_fixed_ = true;
    PrintTableRow(columns_);
  }
  for (const auto& cells : pending_) PrintTableRow(cells);
  pending_.clear();
}

void RowWriter::Finish() {
  if (finished_) return;
  finished_ = true;
  switch (format_) {
    case Format::kJson:
      out_ << (rows_ == 0 ? "[]\n" : "\n]\n");
      break;
    case Format::kJsonl:
      break;
    case Format::kTable:
      FlushTable();
      break;
  }
  out_.flush();
}

void PrintObject(std::ostream& out, Format format, const Json& object) {
  if (format != Format::kTable) {
    out << Dump(object, format == Format::kJson ? 2 : -1) << "\n";
    return;
  }
  size_t width = 0;
  for (const auto& [key, value] : object.items()) width = std::max(width, DisplayWidth(key));
  for (const auto& [key, value] : object.items()) {
    out << key << std::string(width - DisplayWidth(key) + 2, ' ') << Cell(value) << "\n";
  }
}

}  // namespace annals::tool
