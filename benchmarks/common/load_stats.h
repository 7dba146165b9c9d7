#ifndef ALTS_BENCHMARKS_COMMON_LOAD_STATS_H_
#define ALTS_BENCHMARKS_COMMON_LOAD_STATS_H_

// Statistics of the load programs (benchmarks/stress.cc, rpc_stress.cc):
// a small seeded generator for sizes and offsets, a fixed-size latency
// histogram, and a counter one reactor thread writes while another reads.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace alts::bench {

// Rng is SplitMix64: tiny, fast and good enough for sizes and offsets.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  // Next returns the next 64 random bits.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform returns a value in [lo, hi].
  uint64_t Uniform(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }
  // Chance returns true with probability p (0..1).
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

// LatencyHistogram counts nanosecond samples in log-linear buckets: exact
// below 64 ns, then 32 buckets per power of two (at most ~3% wide), so
// percentiles cost a fixed ~10 KiB per thread whatever the run length.
class LatencyHistogram {
 public:
  // Record counts one sample.
  void Record(uint64_t ns) {
    ++counts_[Index(ns)];
    ++total_;
  }
  // Merge adds another histogram's samples.
  void Merge(const LatencyHistogram& other);
  // Clear forgets every sample.
  void Clear() {
    counts_.fill(0);
    total_ = 0;
  }
  // total returns the number of samples.
  uint64_t total() const { return total_; }
  // Percentile returns the middle of the bucket holding quantile q (0..1) in
  // nanoseconds; 0 without samples.
  double Percentile(double q) const;

 private:
  static constexpr int kSubBits = 5;  // 32 buckets per power of two
  static constexpr uint64_t kExact = 64;
  static constexpr int kMaxExponent = 44;  // ~4.9 hours in ns; larger clamps
  static constexpr size_t kBuckets = kExact + (kMaxExponent - 6 + 1) * (1 << kSubBits);

  static size_t Index(uint64_t ns);
  // Lower returns the smallest value of bucket i.
  static uint64_t Lower(size_t i);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

// Counter is a statistic written by one reactor thread and read by the main
// thread while running: a relaxed atomic without a locked add.
class Counter {
 public:
  // Add adds n; only the owning thread calls it.
  void Add(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Get returns the value (any thread).
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  // Reset zeroes the counter while its thread is quiescent.
  void Reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_LOAD_STATS_H_
