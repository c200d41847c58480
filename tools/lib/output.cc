#include "output.h"

#include <algorithm>

namespace annals::tool {
namespace {

// Rows a table looks at before fixing its column widths.
constexpr size_t kWidthSampleRows = 256;

size_t DisplayWidth(const std::string& s) {
  // UTF-8: count code points, not bytes.
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

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
