#include "benchmarks/common/table_printer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace alts::bench {

TablePrinter::TablePrinter(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kRight) {
  if (!align_.empty()) align_[0] = Align::kLeft;
}

absl::Status TablePrinter::SetAlign(size_t column, Align align) {
  if (column >= align_.size()) {
    return absl::OutOfRangeError(absl::StrCat("TablePrinter: no column ",
                                              column, " of ", align_.size()));
  }
  align_[column] = align;
  return absl::OkStatus();
}

absl::Status TablePrinter::AddRow(std::vector<std::string> cells) {
  if (cells.size() > headers_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("TablePrinter: row has ", cells.size(), " cells for ",
                     headers_.size(), " columns"));
  }
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
  return absl::OkStatus();
}

std::string TablePrinter::ToString() const {
  const size_t columns = headers_.size();
  std::vector<size_t> width(columns);
  for (size_t c = 0; c < columns; ++c) {
    width[c] = headers_[c].size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      if (c > 0) line += "  ";
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (align_[c] == Align::kLeft) {
        absl::StrAppend(&line, cells[c], pad);
      } else {
        absl::StrAppend(&line, pad, cells[c]);
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  append_line(headers_);
  std::vector<std::string> rule(columns);
  for (size_t c = 0; c < columns; ++c) rule[c] = std::string(width[c], '-');
  append_line(rule);
  for (const auto& row : rows_) append_line(row);
  return out;
}

void TablePrinter::Print(std::FILE* out) const {
  const std::string text = ToString();
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace alts::bench
