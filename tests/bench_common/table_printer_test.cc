#include "benchmarks/common/table_printer.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

TEST(TablePrinterTest, AlignsColumnsFirstLeftOthersRight) {
  TablePrinter table({"case", "conns", "bytes/conn"});
  ASSERT_TRUE(table.AddRow({"alts-ondemand", "2000", "312"}).ok());
  ASSERT_TRUE(table.AddRow({"tls", "20", "41234567"}).ok());
  EXPECT_EQ(table.rows(), 2u);
  EXPECT_EQ(table.ToString(),
            "case           conns  bytes/conn\n"
            "-------------  -----  ----------\n"
            "alts-ondemand   2000         312\n"
            "tls               20    41234567\n");
}

TEST(TablePrinterTest, MissingCellsPrintEmptyAndNoTrailingSpaces) {
  TablePrinter table({"name", "value"});
  ASSERT_TRUE(table.SetAlign(1, TablePrinter::Align::kLeft).ok());
  ASSERT_TRUE(table.AddRow({"only-name"}).ok());
  ASSERT_TRUE(table.AddRow({"x", "y"}).ok());
  EXPECT_EQ(table.ToString(),
            "name       value\n"
            "---------  -----\n"
            "only-name\n"
            "x          y\n");
}

TEST(TablePrinterTest, RejectsTooManyCellsAndUnknownColumns) {
  TablePrinter table({"a"});
  EXPECT_EQ(table.AddRow({"1", "2"}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.rows(), 0u);
  EXPECT_EQ(table.SetAlign(1, TablePrinter::Align::kLeft).code(),
            absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace alts::bench
