#ifndef ALTS_TOOLS_ALTS_ECHO_ECHO_SERVER_H_
#define ALTS_TOOLS_ALTS_ECHO_ECHO_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conn/buffer_pool.h"
#include "conn/handshake_set.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "handshaker/handshaker.h"
#include "tools/alts_echo/echo_flags.h"

namespace alts {

// kAcceptBackoff: after an accept error other than "would block" (e.g. out
// of descriptors) the server stops accepting for this long instead of
// spinning on a listening socket that stays readable.
inline constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);
// kReapInterval: how often each reactor frees connections whose graceful
// close finished after their handler last heard from them.
inline constexpr absl::Duration kReapInterval = absl::Seconds(1);
// kCloseLinger: a closed connection whose peer does not take the last echo
// bytes within this long is dropped, so a stuck peer cannot pin it.
inline constexpr absl::Duration kCloseLinger = absl::Seconds(10);

// EchoServerTotals counts what an EchoServer did.
struct EchoServerTotals {
  // Handshakes that succeeded.
  uint64_t accepted = 0;
  // Failed handshakes plus connections that ended with an error.
  uint64_t rejected = 0;
  // Connections the client closed cleanly after everything was echoed.
  uint64_t closed = 0;
  // Connections still open when the server stopped.
  uint64_t open_at_shutdown = 0;
  // Plaintext bytes echoed back over all connections.
  uint64_t bytes_echoed = 0;
};

// EchoServer accepts TCP connections, authenticates each with the server
// side of the ALTS handshake on a reactor of its group and echoes every
// byte back. It prints one line per event (see tools/alts_echo/main.cc):
// "accepted", "closed" and "rejected <peer>: <reason>" for a failed
// handshake or a connection that failed (bad frame, reset, ...); it keeps
// serving the others.
//
// It accepts on its own socket rather than through SecureListener because
// it reports the peer address of every failed handshake, and a listener's
// outcome callback does not carry it; the handshakes run in a HandshakeSet,
// exactly as in SecureListener.
class EchoServer {
 public:
  // Start binds `address`, starts `threads` reactors and accepts. Returns
  // the bind error (kUnavailable, kInvalidArgument for a bad address) or
  // kInternal if the reactors cannot start.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(
      const std::string& address, size_t threads, std::shared_ptr<const HandshakerConfig> config);

  // The destructor stops the server (see Stop).
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // address returns the bound address (with the port picked for port 0).
  const SocketAddress& address() const { return address_; }

  // Stop stops accepting, cancels handshakes in progress, closes every
  // connection and stops the reactors. Idempotent. Call from the thread
  // that called Start, never from a reactor.
  void Stop();

  // totals returns the counters; exact once Stop returned.
  EchoServerTotals totals() const;

 private:
  class Session;

  // PerReactor is what one reactor owns; touched only on its thread.
  struct PerReactor {
    absl::flat_hash_map<Session*, std::unique_ptr<Session>> sessions;
    // Sessions closed gracefully whose socket may still be flushing.
    std::vector<Session*> closing;
    std::unique_ptr<ReactorEvent> reaper;
  };

  EchoServer(std::shared_ptr<const HandshakerConfig> config);

  void OnAcceptable();
  void ResumeAccepting();
  void OnOutcome(Reactor& reactor, const std::string& peer,
                 absl::StatusOr<EstablishedConnection> outcome);
  // Finish destroys `session` (on its reactor thread).
  void Finish(Session* session);
  void Reap(Reactor& reactor);

  // Declared first so it is destroyed last: the pools outlive the group's
  // threads and every connection.
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::shared_ptr<const HandshakerConfig> config_;
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<HandshakeSet> handshakes_;
  std::vector<PerReactor> reactors_;
  SocketAddress address_;
  int listen_fd_ = -1;
  // Reactor 0 owns the accept event and its backoff timer.
  std::unique_ptr<ReactorEvent> accept_event_;
  std::unique_ptr<ReactorEvent> accept_retry_;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> closed_{0};
  std::atomic<uint64_t> open_at_shutdown_{0};
  std::atomic<uint64_t> bytes_echoed_{0};
};

// RunEchoServer is `alts_echo --listen`: it serves until SIGINT or SIGTERM,
// then prints the totals. Returns the process exit status.
int RunEchoServer(const EchoFlags& flags);

}  // namespace alts

#endif  // ALTS_TOOLS_ALTS_ECHO_ECHO_SERVER_H_
