#ifndef ALTS_RPC_SERVER_H_
#define ALTS_RPC_SERVER_H_

// A gRPC-wire-compatible server (gRPC over HTTP/2) on the on-demand
// transport: ALTS (conn/ SecureListener) or plaintext h2c (PlainListener).
// Handlers run on the connection's reactor thread through a callback API in
// the style of gRPC C++'s: one handler object per call, events for each
// message, a write at a time, and Finish with a status.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "handshaker/handshaker.h"
#include "handshaker/peer_identity.h"
#include "http2/session.h"
#include "rpc/wire.h"

namespace alts {
class SecureListener;
class PlainListener;
}  // namespace alts

namespace alts::rpc {

class ServerCall;
class ServerConnection;
class Server;

// CallInfo is what an authorization hook sees of a call before it starts.
struct CallInfo {
  absl::string_view method;          // "/package.Service/Method"
  const Metadata* metadata = nullptr;  // the client's custom metadata
  const PeerIdentity* peer = nullptr;  // nullptr on plaintext connections
  absl::string_view peer_address;
};

// AuthorizeFn decides whether a call may run: OK, or the status the call
// ends with (typically kPermissionDenied). Runs on the reactor thread; must
// not block.
using AuthorizeFn = std::function<absl::Status(const CallInfo&)>;

// ServerCallHandler receives one call's events, on its reactor thread. The
// library owns the handler (from the factory) and deletes it after OnDone.
class ServerCallHandler {
 public:
  virtual ~ServerCallHandler() = default;
  // OnMessage delivers one request message (valid during the call).
  virtual void OnMessage(absl::Span<const uint8_t> message) {}
  // OnHalfClose: the client sends no more messages.
  virtual void OnHalfClose() {}
  // OnWriteDone: the message of the last ServerCall::Write went out (ok) or
  // the call ended first (!ok).
  virtual void OnWriteDone(bool ok) {}
  // OnCancel: the call ended without Finish (client cancel or reset,
  // deadline, connection loss, shutdown). OnDone follows.
  virtual void OnCancel() {}
  // OnDone is the last event; the handler is deleted after it returns.
  virtual void OnDone() {}
};

// HandlerFactory makes the handler of a new call (called on its reactor
// thread, once the call is authorized). The call pointer stays valid until
// the handler's OnDone returns.
using HandlerFactory = std::function<std::unique_ptr<ServerCallHandler>(ServerCall*)>;

// WriteOptions qualify one ServerCall::Write.
struct WriteOptions {
  // compress the message with the call's response encoding (gzip when the
  // client accepts it; otherwise sent uncompressed).
  bool compress = false;
};

// ServerCall is one call as the server handler sees it. Use it on its
// reactor thread only (from the handler's events, or via RunOnReactor).
class ServerCall {
 public:
  // method returns the call's path, "/package.Service/Method".
  virtual absl::string_view method() const = 0;
  // client_metadata returns the client's custom metadata ("-bin" values
  // decoded).
  virtual const Metadata& client_metadata() const = 0;
  // peer returns the authenticated peer (nullptr on plaintext h2c).
  virtual const PeerIdentity* peer() const = 0;
  // peer_address returns the peer's network address.
  virtual absl::string_view peer_address() const = 0;
  // deadline returns the client's deadline (InfiniteFuture if none).
  virtual absl::Time deadline() const = 0;
  // cancelled returns true once the call ended without Finish.
  virtual bool cancelled() const = 0;
  // reactor returns the call's reactor.
  virtual Reactor& reactor() const = 0;

  // AddInitialMetadata adds response header metadata (before the first
  // Write or Finish; kFailedPrecondition later, kInternal if invalid).
  virtual absl::Status AddInitialMetadata(std::string key, std::string value) = 0;
  // SetResponseCompression asks for "gzip" (or "identity") response
  // messages when the client accepts it; before the first Write.
  virtual void SetResponseCompression(absl::string_view encoding) = 0;

  // Write sends one response message. `message` must stay valid until
  // OnWriteDone. kFailedPrecondition if a write is in flight or after
  // Finish; kCancelled if the call ended.
  virtual absl::Status Write(absl::Span<const uint8_t> message, WriteOptions options = {}) = 0;

  // Finish ends the call with `status` and trailing metadata; queued after a
  // write in flight. OnDone follows. Later calls are ignored.
  virtual void Finish(absl::Status status, Metadata trailers = {}) = 0;

  // PauseReads stops returning flow-control credit for request bytes: the
  // client stops once its window is used (messages already sent still
  // arrive). ResumeReads returns it. For handlers that hand messages to
  // slower consumers.
  virtual void PauseReads() = 0;
  virtual void ResumeReads() = 0;

  // RunOnReactor runs `fn` on the call's reactor thread (thread-safe; fn
  // does not run if the call or server is gone by then: it must check).
  virtual void RunOnReactor(absl::AnyInvocable<void()> fn) = 0;

 protected:
  ~ServerCall() = default;
};

// MethodOptions qualify a registered method.
struct MethodOptions {
  // authorize runs before the server-wide hook; empty = allow.
  AuthorizeFn authorize;
};

// ServerOptions configure a Server.
struct ServerOptions {
  // Required: the reactor group the connections run on, and the pools.
  ReactorGroup* group = nullptr;
  const ConnectionResources* resources = nullptr;
  // ALTS: the server's handshake configuration. nullptr = plaintext h2c.
  std::shared_ptr<const HandshakerConfig> alts;
  HandshakeParams alts_params;
  // HTTP/2 settings (MAX_CONCURRENT_STREAMS is max_concurrent_streams).
  http2::SessionOptions http2;
  // The largest request message accepted (RESOURCE_EXHAUSTED beyond).
  size_t max_receive_message_size = kDefaultMaxReceiveMessageSize;
  // The most that partially received request messages may hold together on
  // one connection (a message's storage grows with the bytes that arrived).
  // A call whose message would go past it fails with RESOURCE_EXHAUSTED, so
  // a peer that announces large messages on many streams and trickles them
  // holds at most this much. 0 = no limit.
  size_t max_partial_message_bytes_per_connection = kDefaultMaxPartialMessageBytesPerConnection;
  // Keepalive enforcement, as gRPC: client PINGs closer together than
  // keepalive_min_time (2 hours when no call is active and
  // !keepalive_permit_without_calls) are strikes; more than
  // keepalive_max_ping_strikes strikes end the connection with GOAWAY
  // ENHANCE_YOUR_CALM "too_many_pings". Sending headers or data resets them.
  absl::Duration keepalive_min_time = absl::Minutes(5);
  bool keepalive_permit_without_calls = false;
  int keepalive_max_ping_strikes = 2;
  // max_connection_idle: a connection without calls for this long is sent
  // GOAWAY and closed. Infinite by default (idle connections cost ~1 KiB).
  absl::Duration max_connection_idle = absl::InfiniteDuration();
  // authorize runs for every call after the method's own hook.
  AuthorizeFn authorize;
  // Log connection-level failures (handshakes, protocol errors) to stderr.
  bool log_errors = false;
};

// ServerStats counts a server's connections and calls.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t calls_started = 0;
  uint64_t calls_finished = 0;
  uint64_t calls_cancelled = 0;
  uint64_t calls_rejected = 0;  // unimplemented, unauthorized, malformed
};

// Server serves registered methods on one or more listeners.
class Server {
 public:
  // Create validates `options`. kInvalidArgument without group or resources.
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);
  // ~Server shuts down with no grace.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // RegisterMethod serves `path` ("/package.Service/Method") with handlers
  // from `factory`. Register before the first listener; kAlreadyExists for
  // a path registered twice, kFailedPrecondition once serving.
  absl::Status RegisterMethod(std::string path, HandlerFactory factory, MethodOptions options = {});

  // AddListener starts serving on `address` ("HOST:PORT", port 0 picks one,
  // or "unix:PATH" for plaintext) and returns the bound address. Call from
  // outside the group's reactor threads.
  absl::StatusOr<std::string> AddListener(const std::string& address);

  // ServeConnectedSocket serves plaintext HTTP/2 (h2c) on `fd`, a connected
  // stream socket (TCP or Unix domain: one end of a socketpair, or a socket
  // handed over by a supervisor), as gRPC's AddInsecureChannelFromFd does.
  // The server owns `fd` from the call on (it is closed on failure too). The
  // connection runs on the calling reactor when called from one of the
  // group's threads, otherwise on the one the group picks; it is counted,
  // limited and shut down like an accepted one, and `peer_address` is what
  // its calls report as theirs. Returns once the connection is served:
  // kFailedPrecondition for an ALTS server (its connections need a
  // handshake: AddListener) or once shutting down, kInvalidArgument for a
  // negative fd, the error of SecureConnection::CreatePlaintext otherwise.
  absl::Status ServeConnectedSocket(int fd, std::string peer_address = "");

  // Shutdown stops accepting, sends GOAWAY on every connection, lets calls
  // in flight finish for up to `grace`, then cancels the rest and closes
  // every connection. Returns once all are gone. Idempotent; call from
  // outside the group's reactor threads.
  void Shutdown(absl::Duration grace = absl::ZeroDuration());

  ServerStats stats() const;
  // ConnectionHeapBytes returns the heap held by each open connection
  // (transport, session, HPACK tables, server state), for measurements.
  std::vector<size_t> ConnectionHeapBytes();

  // Used by the connections.
  struct Method {
    HandlerFactory factory;
    MethodOptions options;
  };
  const Method* FindMethod(absl::string_view path) const;
  // FindMethodPath returns the registered copy of `path` (stable for the
  // server's life), or "" if none.
  absl::string_view FindMethodPath(absl::string_view path) const;
  const ServerOptions& options() const { return options_; }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  void ConnectionOpened(ServerConnection* c);
  void ConnectionClosed(ServerConnection* c);
  std::atomic<uint64_t> calls_started_{0}, calls_finished_{0}, calls_cancelled_{0},
      calls_rejected_{0};

 private:
  explicit Server(ServerOptions options);
  // Adopt serves `connection` on `reactor` (its thread); false, dropping the
  // connection, once shutting down.
  bool Adopt(Reactor& reactor, std::unique_ptr<SecureConnection> connection,
             std::shared_ptr<const PeerIdentity> peer, std::string peer_address);

  ServerOptions options_;
  absl::flat_hash_map<std::string, Method> methods_;
  std::vector<std::unique_ptr<SecureListener>> alts_listeners_;
  std::vector<std::unique_ptr<PlainListener>> plain_listeners_;
  std::atomic<bool> serving_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> accepted_{0};
  // Open connections per reactor: intrusive lists, each touched on its
  // reactor only; plus a total for Shutdown to wait on.
  std::vector<ServerConnection*> connection_heads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t open_ = 0;  // guarded by mu_
  bool shut_down_ = false;
};

}  // namespace alts::rpc

#endif  // ALTS_RPC_SERVER_H_
