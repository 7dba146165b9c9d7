#include "conn/per_source_limit.h"

namespace alts {

bool PerSourceLimit::TryAdd(const SourceKey& source) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& n = counts_[source];
  if (max_per_source_ != 0 && n >= max_per_source_) {
    if (n == 0) counts_.erase(source);
    return false;
  }
  ++n;
  return true;
}

void PerSourceLimit::Remove(const SourceKey& source) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(source);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

size_t PerSourceLimit::count(const SourceKey& source) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(source);
  return it == counts_.end() ? 0 : it->second;
}

size_t PerSourceLimit::sources() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_.size();
}

}  // namespace alts
