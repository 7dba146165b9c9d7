#ifndef ALTS_BENCHMARKS_COMMON_BENCHMARK_HEAP_H_
#define ALTS_BENCHMARKS_COMMON_BENCHMARK_HEAP_H_

// Google Benchmark glue for heap accounting: report allocations and heap
// bytes per iteration as user counters. Header-only, so only programs that
// use Google Benchmark need its headers.
//
//   static void BM_Seal(benchmark::State& state) {
//     ... set up ...
//     alts::bench::ScopedHeapCounter heap;
//     for (auto _ : state) { ... }
//     alts::bench::ReportHeapPerIteration(state, heap.Delta());
//   }

#include <benchmark/benchmark.h>

#include "benchmarks/common/heap_accounting.h"

namespace alts::bench {

// kAllocsPerIterCounter and kHeapBytesPerIterCounter are the counter names
// ReportHeapPerIteration sets; JSON and console output use them verbatim.
inline constexpr char kAllocsPerIterCounter[] = "allocs_per_iter";
inline constexpr char kHeapBytesPerIterCounter[] = "heap_bytes_per_iter";

// ReportHeapPerIteration sets the allocs_per_iter and heap_bytes_per_iter
// counters of `state` from `delta`, averaged over the run's iterations (a
// leak of N bytes per iteration shows as N). Call it after the timing loop.
// Reports nothing if heap accounting is not active (sanitizer builds).
inline void ReportHeapPerIteration(benchmark::State& state,
                                   const HeapDelta& delta) {
  if (!HeapAccountingActive()) return;
  state.counters[kAllocsPerIterCounter] = benchmark::Counter(
      static_cast<double>(delta.allocations), benchmark::Counter::kAvgIterations);
  state.counters[kHeapBytesPerIterCounter] = benchmark::Counter(
      static_cast<double>(delta.bytes), benchmark::Counter::kAvgIterations);
}

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_BENCHMARK_HEAP_H_
