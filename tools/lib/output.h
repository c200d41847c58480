// The tool's output: rows as an aligned table (people), one JSON array
// (--json) or one JSON object per line (--jsonl, scripts and pipes).
#ifndef ANNALS_TOOLS_OUTPUT_H_
#define ANNALS_TOOLS_OUTPUT_H_

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace annals::tool {

using Json = nlohmann::ordered_json;

enum class Format { kTable, kJson, kJsonl };

// Prints a JSON value compactly, never failing (invalid UTF-8 is replaced).
std::string Dump(const Json& value, int indent = -1);

// Writes rows (JSON objects) as they come, so long listings stream with
// bounded memory. A table sizes its columns from the first rows and prints
// the `columns` keys only; JSON forms print whole objects.
class RowWriter {
 public:
  RowWriter(std::ostream& out, Format format, std::vector<std::string> columns);
  ~RowWriter();  // Finish()es
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;
  void Add(Json row);
  // Ends the output (the JSON array's bracket, a table's buffered rows).
  void Finish();
  size_t rows() const { return rows_; }

 private:
  void FlushTable();
  void PrintTableRow(const std::vector<std::string>& cells);

  std::ostream& out_;
  const Format format_;
  const std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> pending_;  // table rows not yet printed
  std::vector<size_t> widths_;
  bool widths_fixed_ = false;
  bool finished_ = false;
  size_t rows_ = 0;
};

// The columns a terminal gives `s` (UTF-8): two for East Asian wide and
// fullwidth characters and emoji, none for combining marks and zero-width
// characters, one for the rest. Tables align by it.
size_t DisplayWidth(std::string_view s);

// One cell of a table: strings as they are, other values as compact JSON.
std::string Cell(const Json& value);

// Key/value output for a single record (info, state): a two-column table or
// one JSON object.
void PrintObject(std::ostream& out, Format format, const Json& object);

}  // namespace annals::tool

#endif  // ANNALS_TOOLS_OUTPUT_H_
