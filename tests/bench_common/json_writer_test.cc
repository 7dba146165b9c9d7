#include "benchmarks/common/json_writer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonQuote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(JsonQuote("\x7f/"), "\"\x7f/\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 kept
}

TEST(JsonRowTest, FieldsInInsertionOrder) {
  JsonRow row;
  EXPECT_TRUE(row.empty());
  row.AddString("name", "tls \"1.3\"")
      .AddInt("delta", -5)
      .AddUint("big", 18446744073709551615ULL)
      .AddDouble("ratio", 0.1)
      .AddDouble("whole", 3.0)
      .AddBool("ok", true)
      .AddBool("bad", false);
  EXPECT_FALSE(row.empty());
  EXPECT_EQ(row.ToString(),
            "{\"name\":\"tls \\\"1.3\\\"\",\"delta\":-5,"
            "\"big\":18446744073709551615,\"ratio\":0.1,\"whole\":3,"
            "\"ok\":true,\"bad\":false}");
}

TEST(JsonRowTest, DoublesRoundTripAndNonFiniteIsNull) {
  JsonRow row;
  row.AddDouble("third", 1.0 / 3.0)
      .AddDouble("nan", std::nan(""))
      .AddDouble("inf", std::numeric_limits<double>::infinity())
      .AddDouble("big", 1e300);
  EXPECT_EQ(row.ToString(),
            "{\"third\":0.3333333333333333,\"nan\":null,\"inf\":null,"
            "\"big\":1e+300}");
}

TEST(JsonRowTest, DoubleArraysFormatEachElementAsAddDouble) {
  JsonRow row;
  row.AddDoubleArray("runs", {1.5, 3.0, std::nan("")}).AddDoubleArray("none", {});
  EXPECT_EQ(row.ToString(), "{\"runs\":[1.5,3,null],\"none\":[]}");
}

TEST(JsonRowTest, KeysAreEscaped) {
  JsonRow row;
  row.AddInt("a\"b", 1);
  EXPECT_EQ(row.ToString(), "{\"a\\\"b\":1}");
}

TEST(JsonResultsTest, WrapsRowsInResults) {
  JsonResults results;
  EXPECT_EQ(results.ToString(), "{\"results\":[]}\n");
  JsonRow a;
  a.AddString("case", "alts");
  JsonRow b;
  b.AddString("case", "tls").AddUint("conns", 2000);
  results.Add(a);
  results.Add(b);
  EXPECT_EQ(results.size(), 2u);
  EXPECT_EQ(results.ToString(),
            "{\"results\":[{\"case\":\"alts\"},"
            "{\"case\":\"tls\",\"conns\":2000}]}\n");
}

TEST(JsonResultsTest, WritesFile) {
  JsonResults results;
  JsonRow row;
  row.AddInt("n", 7);
  results.Add(row);
  char path[] = "/tmp/json_writer_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(results.WriteToFile(path).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{\"results\":[{\"n\":7}]}\n");
  unlink(path);
}

TEST(JsonResultsTest, MissingDirectoryIsNotFound) {
  JsonResults results;
  EXPECT_EQ(results.WriteToFile("/nonexistent-dir-for-test/x.json").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace alts::bench
