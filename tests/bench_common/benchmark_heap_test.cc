#include "benchmarks/common/benchmark_heap.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace alts::bench {
namespace {

// AllocatingBenchmark allocates two blocks per iteration and keeps one.
void AllocatingBenchmark(benchmark::State& state) {
  static void* (*volatile malloc_fn)(size_t) = &malloc;
  static void (*volatile free_fn)(void*) = &free;
  std::vector<void*> kept;
  kept.reserve(state.max_iterations);
  ScopedHeapCounter heap;
  for (auto _ : state) {
    void* a = malloc_fn(100);
    void* b = malloc_fn(200);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    free_fn(a);
    kept.push_back(b);
  }
  ReportHeapPerIteration(state, heap.Delta());
  for (void* b : kept) free_fn(b);
}

// CapturingReporter keeps the counters of every run.
class CapturingReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) counters = run.counters;
  }
  std::map<std::string, benchmark::Counter> counters;
};

TEST(BenchmarkHeapTest, ReportsAllocationsAndBytesPerIteration) {
  benchmark::RegisterBenchmark("AllocatingBenchmark", &AllocatingBenchmark)
      ->Iterations(1000);
  CapturingReporter reporter;
  ASSERT_EQ(benchmark::RunSpecifiedBenchmarks(&reporter), 1u);
  ASSERT_EQ(reporter.counters.count(kAllocsPerIterCounter), 1u);
  ASSERT_EQ(reporter.counters.count(kHeapBytesPerIterCounter), 1u);
  // Counters are already divided by the iteration count when reported.
  EXPECT_NEAR(reporter.counters[kAllocsPerIterCounter].value, 2.0, 0.01);
  const double bytes = reporter.counters[kHeapBytesPerIterCounter].value;
  EXPECT_GE(bytes, 200.0);
  EXPECT_LT(bytes, 264.0);  // one 200-byte block plus glibc rounding
}

}  // namespace
}  // namespace alts::bench
