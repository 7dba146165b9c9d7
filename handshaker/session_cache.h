#ifndef ALTS_HANDSHAKER_SESSION_CACHE_H_
#define ALTS_HANDSHAKER_SESSION_CACHE_H_

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handshaker/certificate.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/identity.h"
#include "handshaker/secret_array.h"

namespace alts {

// ClientSession is what a client keeps to resume with one server: the
// opaque ticket, the resumption secret only it and the server know, who the
// server was, and until when the ticket may be offered.
struct ClientSession {
  std::string ticket;
  SecretArray<32> resumption_secret;
  Identity server_identity;
  absl::Time expiry;
  // The server chain's expiry: later tickets from resumptions never outlive it.
  absl::Time server_not_after;
  // The root the server chain verified under: offered only while trusted.
  KeyId server_root_key_id{};
};

// SessionCache keeps at most `capacity` client sessions, one per target key,
// evicting the least recently stored. A session is single-use: Take removes
// it. Thread-safe; share one per client process or channel set.
class SessionCache {
 public:
  // Create returns a cache for up to `capacity` sessions (at least 1).
  static std::shared_ptr<SessionCache> Create(size_t capacity = kDefaultSessionCacheCapacity);

  // Put stores `session` under `key`, replacing any older one.
  void Put(absl::string_view key, ClientSession session);
  // Take removes and returns the session for `key` if it has not expired
  // at `now`; nullopt otherwise (an expired session is dropped).
  std::optional<ClientSession> Take(absl::string_view key, absl::Time now);
  // size returns the number of stored sessions.
  size_t size() const;

 private:
  explicit SessionCache(size_t capacity) : capacity_(capacity) {}
  struct Entry {
    std::string key;
    ClientSession session;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently stored first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_SESSION_CACHE_H_
