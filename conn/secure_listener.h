#ifndef ALTS_CONN_SECURE_LISTENER_H_
#define ALTS_CONN_SECURE_LISTENER_H_

#include <atomic>
#include <memory>
#include <string>

#include <event2/event.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conn/handshake_set.h"
#include "conn/per_source_limit.h"
#include "conn/reactor.h"
#include "conn/socket_util.h"
#include "handshaker/handshake_limiter.h"
#include "handshaker/handshaker.h"

namespace alts {

// kMaxAcceptsPerWakeup: connections accepted per readiness wakeup before
// the listener yields to the connections already on its reactor.
inline constexpr int kMaxAcceptsPerWakeup = 64;
// kDefaultMaxHandshakesPerSource: handshakes one source (an IPv4 address or
// an IPv6 /64) may have in progress at a listener at once, counting those
// still waiting for their first bytes. A gRPC client process runs at most
// 100 at once (its own cap), so this leaves room for a few clients behind
// one address while one flooding source cannot hold every descriptor.
inline constexpr size_t kDefaultMaxHandshakesPerSource = 256;
// kMinAcceptBackoff / kMaxAcceptBackoff: when accept() fails for want of
// descriptors or memory the listening socket stays readable; accepting
// pauses for this long, doubling up to the maximum, instead of spinning.
inline constexpr absl::Duration kMinAcceptBackoff = absl::Milliseconds(5);
inline constexpr absl::Duration kMaxAcceptBackoff = absl::Seconds(1);

// ListenOptions configures Listen.
struct ListenOptions {
  // What the server accepts (protocols, RPC versions, its max frame size).
  HandshakeParams params;
  // Pools and connection options; must outlive the listener and its
  // connections.
  const ConnectionResources* resources = nullptr;
  // Cap on concurrent accepted handshakes; nullptr = a process-wide server
  // cap sized like HandshakeLimiter::Global() (GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES)
  // but separate from the dialing cap, so a process that dials itself
  // cannot deadlock. Never pass the dialer's limiter here.
  HandshakeLimiter* limiter = nullptr;
  // Handshakes in progress per source (see kDefaultMaxHandshakesPerSource);
  // beyond it a new connection is closed at once and its outcome is
  // kResourceExhausted. 0 = no per-source cap.
  size_t max_handshakes_per_source = kDefaultMaxHandshakesPerSource;
  int backlog = 4096;
};

// SecureListener accepts TCP connections on one reactor of a group, places
// each on a reactor of the group (the group's placement, keyed by the fd),
// runs the server side of the ALTS handshake there and hands every outcome
// to the callback on that reactor's thread: an EstablishedConnection (not
// started) with the client's authenticated identity, or the reason the
// handshake failed (the socket is then closed; the listener keeps serving).
// A connection takes a handshake slot only once the client has sent
// something; each source may have at most max_handshakes_per_source
// handshakes in progress; accept() out of descriptors backs off instead of
// spinning (docs/handshake.md section 7.1).
class SecureListener {
 public:
  // Listen binds `address` ("HOST:PORT"; port 0 picks one) and starts
  // accepting. Call from outside the group's reactor threads.
  static absl::StatusOr<std::unique_ptr<SecureListener>> Listen(
      ReactorGroup& group, const std::string& address,
      std::shared_ptr<const HandshakerConfig> config, ListenOptions options,
      HandshakeOutcomeCallback on_outcome);

  // The destructor closes (see Close).
  ~SecureListener();
  SecureListener(const SecureListener&) = delete;
  SecureListener& operator=(const SecureListener&) = delete;

  // address returns the bound address (with the port picked for port 0).
  const SocketAddress& address() const { return address_; }

  // Close stops accepting, closes the listening socket and aborts the
  // handshakes in progress (their outcome: kCancelled). Established
  // connections already handed over are not touched. Idempotent; call from
  // outside the group's reactor threads.
  void Close();

  HandshakeStats stats() const { return handshakes_.stats(); }
  // accept_errors counts accept() failures other than "would block".
  uint64_t accept_errors() const { return accept_errors_.load(std::memory_order_relaxed); }
  // accept_pauses counts the times accepting paused (backed off) because
  // accept() was out of descriptors or memory. The first pause after a
  // successful accept is also logged, once, to stderr.
  uint64_t accept_pauses() const { return accept_pauses_.load(std::memory_order_relaxed); }
  // handshakes_from returns how many handshakes `source` has in progress.
  size_t handshakes_from(const SourceKey& source) const { return per_source_.count(source); }

 private:
  SecureListener(ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config,
                 ListenOptions options, HandshakeOutcomeCallback on_outcome);
  static void OnAcceptable(evutil_socket_t fd, short what, void* arg);
  static void OnAcceptRetry(evutil_socket_t fd, short what, void* arg);
  // PauseAccepting stops watching the listening socket for the current
  // backoff (reactor 0).
  void PauseAccepting(const absl::Status& why);
  // StartHandshake places an accepted connection on a reactor (or refuses
  // it if its source is at its cap).
  void StartHandshake(int fd, const SocketAddress& peer);

  ReactorGroup& group_;
  std::shared_ptr<const HandshakerConfig> config_;
  ListenOptions options_;
  HandshakeSet handshakes_;
  HandshakeOutcomeCallback on_outcome_;
  SocketAddress address_;
  int listen_fd_ = -1;
  event* accept_event_ = nullptr;
  event* retry_event_ = nullptr;
  // Reactor 0 only: the current backoff, and whether this episode of
  // accept failures was logged.
  absl::Duration accept_backoff_ = absl::ZeroDuration();
  bool accept_failure_logged_ = false;
  PerSourceLimit per_source_;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> accept_errors_{0};
  std::atomic<uint64_t> accept_pauses_{0};
};

// DialerOptions configures a SecureDialer.
struct DialerOptions {
  const ConnectionResources* resources = nullptr;
  // Cap on concurrent handshakes; nullptr = HandshakeLimiter::Global().
  HandshakeLimiter* limiter = nullptr;
};

// SecureDialer opens client connections: a non-blocking connect on a
// reactor of the group, then the client side of the ALTS handshake, within
// the handshaker's deadline. Outcomes go to the callback given to Dial, on
// the connection's reactor thread.
class SecureDialer {
 public:
  static absl::StatusOr<std::unique_ptr<SecureDialer>> Create(
      ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config,
      DialerOptions options);
  ~SecureDialer();
  SecureDialer(const SecureDialer&) = delete;
  SecureDialer& operator=(const SecureDialer&) = delete;

  // Dial connects to `address` ("HOST:PORT") and runs a client handshake
  // with `params` (target identities, session key for resumption, ...).
  // `key` feeds the group's placement. Thread-safe. `done` runs exactly once
  // on a reactor thread (also for an unparsable address or a closed dialer).
  void Dial(const std::string& address, HandshakeParams params, HandshakeOutcomeCallback done,
            uint64_t key = 0);

  // Close aborts dials in progress (kCancelled) and refuses new ones.
  void Close();

  HandshakeStats stats() const { return handshakes_.stats(); }

 private:
  SecureDialer(ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config,
               DialerOptions options);

  ReactorGroup& group_;
  std::shared_ptr<const HandshakerConfig> config_;
  DialerOptions options_;
  HandshakeSet handshakes_;
};

}  // namespace alts

#endif  // ALTS_CONN_SECURE_LISTENER_H_
