#ifndef ALTS_BENCHMARKS_COMMON_TABLE_PRINTER_H_
#define ALTS_BENCHMARKS_COMMON_TABLE_PRINTER_H_

// TablePrinter lays out benchmark results in aligned columns:
//
//   case        conns  bytes/conn
//   ----------  -----  ----------
//   alts-ondemand 2000         312
//
// The first column is left-aligned, the others right-aligned (numbers), unless
// set otherwise.

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace alts::bench {

// TablePrinter accumulates rows and prints them with every column as wide as
// its widest cell.
class TablePrinter {
 public:
  // Align is a column's alignment.
  enum class Align { kLeft, kRight };

  // TablePrinter fixes the columns by their headers.
  explicit TablePrinter(std::vector<std::string> headers);

  // SetAlign changes column `column`'s alignment. Returns kOutOfRange if the
  // column does not exist.
  absl::Status SetAlign(size_t column, Align align);

  // AddRow appends a row. Missing trailing cells print empty. Returns
  // kInvalidArgument (and adds nothing) if the row has more cells than there
  // are columns.
  absl::Status AddRow(std::vector<std::string> cells);

  // rows returns the number of rows added.
  size_t rows() const { return rows_.size(); }

  // ToString returns the header, a dashed rule and the rows, each line ending
  // in a newline, columns separated by two spaces, no trailing spaces.
  std::string ToString() const;

  // Print writes ToString() to `out`.
  void Print(std::FILE* out = stdout) const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_TABLE_PRINTER_H_
