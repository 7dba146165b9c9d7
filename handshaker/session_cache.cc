#include "handshaker/session_cache.h"

#include <algorithm>

namespace alts {

std::shared_ptr<SessionCache> SessionCache::Create(size_t capacity) {
  return std::shared_ptr<SessionCache>(new SessionCache(std::max<size_t>(capacity, 1)));
}

void SessionCache::Put(absl::string_view key, ClientSession session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{std::string(key), std::move(session)});
  index_.emplace(lru_.front().key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::optional<ClientSession> SessionCache::Take(absl::string_view key, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  std::list<Entry>::iterator entry = it->second;
  index_.erase(it);
  std::optional<ClientSession> out;
  if (now < entry->session.expiry) out = std::move(entry->session);
  lru_.erase(entry);
  return out;
}

size_t SessionCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace alts
