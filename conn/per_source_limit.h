#ifndef ALTS_CONN_PER_SOURCE_LIMIT_H_
#define ALTS_CONN_PER_SOURCE_LIMIT_H_

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "conn/socket_util.h"

namespace alts {

// PerSourceLimit counts what each source (SourceKey: an IPv4 address or an
// IPv6 /64) holds, and refuses more than `max_per_source` at once, so one
// source cannot take every handshake a listener is willing to run. The map
// holds only sources with a non-zero count. Thread-safe.
class PerSourceLimit {
 public:
  // PerSourceLimit admits up to `max_per_source` per source; 0 = no limit
  // (counts are still kept).
  explicit PerSourceLimit(size_t max_per_source) : max_per_source_(max_per_source) {}

  // TryAdd counts one more for `source`; returns false (and counts nothing)
  // if the source is at its limit.
  bool TryAdd(const SourceKey& source);
  // Remove gives back one counted by TryAdd.
  void Remove(const SourceKey& source);
  // count returns what `source` holds now.
  size_t count(const SourceKey& source) const;
  // sources returns how many sources hold anything.
  size_t sources() const;

 private:
  const size_t max_per_source_;
  mutable std::mutex mu_;
  absl::flat_hash_map<SourceKey, uint32_t> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alts

#endif  // ALTS_CONN_PER_SOURCE_LIMIT_H_
