#include "benchmarks/common/progress_line.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace alts::bench {
namespace {

// Captured runs `body` with a FILE* backed by memory and returns what it
// wrote.
template <typename Body>
std::string Captured(Body body) {
  char* data = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&data, &size);
  body(out);
  std::fclose(out);
  std::string text(data, size);
  free(data);
  return text;
}

TEST(ProgressLineTest, LogModePrintsEveryTenthOnce) {
  const std::string text = Captured([](std::FILE* out) {
    ProgressLine progress("set up", "connections", 2000, out, /*tty=*/false);
    for (uint64_t i = 1; i <= 2000; ++i) progress.Update(i);
    progress.Finish();
    progress.Update(5);  // after Finish: ignored
  });
  std::string expected;
  for (int i = 1; i <= 10; ++i) {
    expected += "  set up " + std::to_string(i * 200) + "/2000 connections\n";
  }
  EXPECT_EQ(text, expected);
}

TEST(ProgressLineTest, TtyModeRewritesOneLine) {
  const std::string text = Captured([](std::FILE* out) {
    ProgressLine progress("set up", "connections", 4, out, /*tty=*/true);
    for (uint64_t i = 1; i <= 4; ++i) progress.Update(i);
  });  // the destructor finishes the line
  EXPECT_EQ(text,
            "\r  set up 1/4 connections\r  set up 2/4 connections"
            "\r  set up 3/4 connections\r  set up 4/4 connections\n");
}

TEST(ProgressLineTest, TtyModeThrottlesLargeTotals) {
  const std::string text = Captured([](std::FILE* out) {
    ProgressLine progress("sent", "frames", 1000000, out, /*tty=*/true);
    for (uint64_t i = 1; i <= 1000000; ++i) progress.Update(i);
  });
  size_t redraws = 0;
  for (char c : text) redraws += c == '\r';
  EXPECT_EQ(redraws, ProgressLine::kTtyStepsPerTotal);
  EXPECT_NE(text.find("\r  sent 1000000/1000000 frames\n"), std::string::npos);
}

TEST(ProgressLineTest, FinishPrintsAnUnfinishedCountAndClamps) {
  const std::string partial = Captured([](std::FILE* out) {
    ProgressLine progress("set up", "connections", 100, out, /*tty=*/false);
    progress.Update(5);
    progress.Finish();
    progress.Finish();
  });
  EXPECT_EQ(partial, "  set up 5/100 connections\n");
  const std::string clamped = Captured([](std::FILE* out) {
    ProgressLine progress("set up", "connections", 10, out, /*tty=*/false);
    progress.Update(25);
  });
  EXPECT_EQ(clamped, "  set up 10/10 connections\n");
}

}  // namespace
}  // namespace alts::bench
