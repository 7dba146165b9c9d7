#ifndef ALTS_CONN_PLAIN_LISTENER_H_
#define ALTS_CONN_PLAIN_LISTENER_H_

// Plaintext connections (no record layer) for h2c: a listener and a
// connector that hand out SecureConnection::CreatePlaintext connections,
// over TCP ("HOST:PORT") or Unix domain sockets ("unix:PATH"). For tests,
// local services and the handshaker service, which gRPC dials in plaintext.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <event2/event.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"

namespace alts {

// kPlainAcceptBackoffMax bounds how long a listener that ran out of
// descriptors waits before it tries to accept again.
inline constexpr absl::Duration kPlainAcceptBackoffMax = absl::Seconds(1);

// PlainAccepted is one accepted plaintext connection (not started).
struct PlainAccepted {
  std::unique_ptr<SecureConnection> connection;
  std::string peer_address;
};

// PlainAcceptCallback receives each accepted connection on the reactor it
// was placed on (several reactor threads may call it at once).
using PlainAcceptCallback = std::function<void(Reactor&, PlainAccepted)>;

// PlainListener accepts plaintext connections on reactor 0 of a group and
// places each on a reactor of the group (its placement).
class PlainListener {
 public:
  // Listen binds `address` ("HOST:PORT", port 0 picks one, or "unix:PATH",
  // an existing socket file at PATH is replaced) and starts accepting. Call
  // from outside the group's threads. `resources` must outlive the
  // connections.
  static absl::StatusOr<std::unique_ptr<PlainListener>> Listen(
      ReactorGroup& group, const std::string& address, const ConnectionResources* resources,
      PlainAcceptCallback on_accept, int backlog = 4096);
  ~PlainListener();
  PlainListener(const PlainListener&) = delete;
  PlainListener& operator=(const PlainListener&) = delete;

  // address returns the bound address: "HOST:PORT" with the picked port, or
  // "unix:PATH".
  const std::string& address() const { return address_; }
  // Close stops accepting (idempotent; call from outside the group's
  // threads). Connections already handed over are not touched.
  void Close();
  // accept_errors counts accept() failures other than "would block".
  uint64_t accept_errors() const { return accept_errors_.load(std::memory_order_relaxed); }

 private:
  PlainListener(ReactorGroup& group, const ConnectionResources* resources,
                PlainAcceptCallback on_accept)
      : group_(group), resources_(resources), on_accept_(std::move(on_accept)) {}
  static void OnAcceptable(evutil_socket_t fd, short what, void* arg);
  static void OnRetry(evutil_socket_t fd, short what, void* arg);
  void Hand(int fd, std::string peer);

  ReactorGroup& group_;
  const ConnectionResources* resources_;
  PlainAcceptCallback on_accept_;
  std::string address_;
  std::string unix_path_;
  int listen_fd_ = -1;
  event* accept_event_ = nullptr;
  event* retry_event_ = nullptr;
  absl::Duration backoff_ = absl::ZeroDuration();
  bool failure_logged_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> accept_errors_{0};
};

// PlainConnector opens one plaintext connection from a reactor: a non-
// blocking connect to "HOST:PORT" or "unix:PATH" within a timeout.
class PlainConnector {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<std::unique_ptr<SecureConnection>>)>;

  // Start begins connecting on `reactor` (call on its thread). `done` runs
  // exactly once on that thread (kDeadlineExceeded after `timeout`,
  // kUnavailable if refused, kInvalidArgument for a bad address) unless the
  // connector is destroyed first; it may destroy the connector.
  static std::unique_ptr<PlainConnector> Start(Reactor& reactor, const std::string& address,
                                               const ConnectionResources* resources,
                                               absl::Duration timeout, Callback done);
  ~PlainConnector();
  PlainConnector(const PlainConnector&) = delete;
  PlainConnector& operator=(const PlainConnector&) = delete;

 private:
  PlainConnector(Reactor& reactor, const ConnectionResources* resources, Callback done)
      : reactor_(reactor), resources_(resources), done_(std::move(done)) {}
  void Finish(absl::StatusOr<std::unique_ptr<SecureConnection>> result);
  void OnEvent(short what);

  Reactor& reactor_;
  const ConnectionResources* resources_;
  Callback done_;
  int fd_ = -1;
  std::unique_ptr<ReactorEvent> event_;
  std::unique_ptr<ReactorEvent> kick_;
};

// ParseUnixAddress returns PATH for "unix:PATH" (also "unix://PATH", as gRPC
// writes absolute paths), or nullopt for other addresses.
std::optional<std::string> ParseUnixAddress(absl::string_view address);

}  // namespace alts

#endif  // ALTS_CONN_PLAIN_LISTENER_H_
