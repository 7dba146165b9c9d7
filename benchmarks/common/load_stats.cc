#include "benchmarks/common/load_stats.h"

#include <algorithm>
#include <bit>

namespace alts::bench {

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
}

double LatencyHistogram::Percentile(double q) const {
  if (total_ == 0) return 0;
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * total_ + 0.5));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return (static_cast<double>(Lower(i)) + Lower(i + 1)) / 2;
  }
  return static_cast<double>(Lower(kBuckets));
}

size_t LatencyHistogram::Index(uint64_t ns) {
  if (ns < kExact) return static_cast<size_t>(ns);
  const int e = std::min(63 - std::countl_zero(ns), kMaxExponent);
  if (e == kMaxExponent && (ns >> e) > 1) return kBuckets - 1;
  const uint64_t sub = (ns >> (e - kSubBits)) & ((1 << kSubBits) - 1);
  return kExact + static_cast<size_t>(e - 6) * (1 << kSubBits) + sub;
}

uint64_t LatencyHistogram::Lower(size_t i) {
  if (i < kExact) return i;
  const size_t group = (i - kExact) >> kSubBits;
  const uint64_t sub = (i - kExact) & ((1 << kSubBits) - 1);
  const int e = static_cast<int>(group) + 6;
  return (uint64_t{1} << e) + (sub << (e - kSubBits));
}

}  // namespace alts::bench
