#ifndef ALTS_CONN_HANDSHAKE_SET_H_
#define ALTS_CONN_HANDSHAKE_SET_H_

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "conn/handshake_driver.h"
#include "conn/reactor.h"

namespace alts {

// HandshakeOutcomeCallback receives each handshake's outcome on the
// connection's reactor thread. It may be called from several reactor
// threads at once.
using HandshakeOutcomeCallback =
    std::function<void(Reactor&, absl::StatusOr<EstablishedConnection>)>;

// HandshakeStats counts handshakes of a listener or dialer.
struct HandshakeStats {
  uint64_t started = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t in_progress = 0;
};

// HandshakeSet owns the in-progress handshakes of a listener or dialer, one
// map per reactor (each touched only on its reactor's thread), so that
// closing can abort them all and nothing outlives its owner.
class HandshakeSet {
 public:
  explicit HandshakeSet(ReactorGroup& group);

  // Start creates a driver on `reactor` (call on its thread) for `fd` and
  // keeps it until its outcome has been delivered to `done`. If the set is
  // closed or the driver cannot start, the outcome is the error.
  void Start(Reactor& reactor, int fd, Side side, std::shared_ptr<const HandshakerConfig> config,
             HandshakeParams params, const ConnectionResources* resources,
             HandshakeLimiter* limiter, HandshakeOutcomeCallback done);

  // StartDial is Start for a client that connects to `address` first (see
  // HandshakeDriver::CreateDialing).
  void StartDial(Reactor& reactor, const SocketAddress& address,
                 std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
                 const ConnectionResources* resources, HandshakeLimiter* limiter,
                 HandshakeOutcomeCallback done);

  // Refuse counts a handshake that was refused before it started (a
  // listener's per-source cap) and delivers `reason` to `done` at once.
  // Call on `reactor`'s thread.
  void Refuse(Reactor& reactor, absl::Status reason, const HandshakeOutcomeCallback& done);

  // Close aborts every in-progress handshake (outcome kCancelled) and
  // refuses new ones. Call from outside the group's reactor threads.
  void Close();

  HandshakeStats stats() const;
  ReactorGroup& group() { return group_; }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  // Track creates the driver with `create` (given the outcome callback) and
  // keeps it until its outcome is delivered.
  void Track(Reactor& reactor, HandshakeOutcomeCallback done,
             absl::FunctionRef<absl::StatusOr<std::unique_ptr<HandshakeDriver>>(HandshakeCallback)>
                 create);
  void Deliver(Reactor& reactor, HandshakeDriver* driver, const HandshakeOutcomeCallback& done,
               absl::StatusOr<EstablishedConnection> outcome);

  ReactorGroup& group_;
  std::atomic<bool> closed_{false};
  std::vector<absl::flat_hash_map<HandshakeDriver*, std::unique_ptr<HandshakeDriver>>> drivers_;
  std::atomic<uint64_t> started_{0}, succeeded_{0}, failed_{0};
};

}  // namespace alts

#endif  // ALTS_CONN_HANDSHAKE_SET_H_
