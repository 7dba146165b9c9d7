#ifndef ALTS_RPC_CHANNEL_H_
#define ALTS_RPC_CHANNEL_H_

// A gRPC-wire-compatible client channel on the on-demand transport. A
// Channel lives on one reactor of a group (many channels may share a group);
// it dials lazily, multiplexes calls over one connection, opens a new one
// after GOAWAY, and reconnects with gRPC's connection backoff after failures.
// Calls use a callback API: events run on the channel's reactor thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "handshaker/handshaker.h"
#include "http2/session.h"
#include "rpc/wire.h"

namespace alts::rpc {

class ChannelImpl;
class ClientCallImpl;

// BackoffOptions are gRPC's connection backoff parameters
// (connection-backoff.md): the first retry after `initial`, each next one
// `multiplier` times longer up to `max`, spread by +-`jitter`; a connection
// attempt may take up to max(min_connect_timeout, current backoff).
struct BackoffOptions {
  absl::Duration initial = absl::Seconds(1);
  double multiplier = 1.6;
  double jitter = 0.2;
  absl::Duration max = absl::Seconds(120);
  absl::Duration min_connect_timeout = absl::Seconds(20);
};

// ChannelOptions configure a Channel.
struct ChannelOptions {
  // Required: the group the channel runs on and the pools.
  ReactorGroup* group = nullptr;
  const ConnectionResources* resources = nullptr;
  // ALTS: the client's handshake configuration and parameters (target
  // identities, session key for resumption). nullptr = plaintext h2c.
  std::shared_ptr<const HandshakerConfig> alts;
  HandshakeParams alts_params;
  // :authority; empty = the target.
  std::string authority;
  std::string user_agent = "alts-ondemand-rpc";
  http2::SessionOptions http2;
  size_t max_receive_message_size = kDefaultMaxReceiveMessageSize;
  BackoffOptions backoff;
  // Keepalive: a PING after keepalive_time without reads, closing the
  // connection if its ack takes longer than keepalive_timeout. Only while
  // calls are active unless keepalive_permit_without_calls.
  absl::Duration keepalive_time = absl::InfiniteDuration();
  absl::Duration keepalive_timeout = absl::Seconds(20);
  bool keepalive_permit_without_calls = false;
  // idle_timeout closes the connection after this long without calls (the
  // next call dials again). Infinite: idle connections cost ~1 KiB.
  absl::Duration idle_timeout = absl::InfiniteDuration();
  // Reactor choice within the group (ReactorGroup::Pick key).
  uint64_t placement_key = 0;
};

// CallOptions qualify one call.
struct CallOptions {
  // The call fails with DEADLINE_EXCEEDED at this time (sent as
  // grpc-timeout, enforced by both sides).
  absl::Time deadline = absl::InfiniteFuture();
  Metadata metadata;
  // wait_for_ready: wait for a connection (until the deadline) instead of
  // failing fast with UNAVAILABLE while the channel cannot connect.
  bool wait_for_ready = false;
  // compression: "gzip" compresses request messages written with
  // compress = true; "" or "identity" never.
  std::string compression;
};

// ClientCallHandler receives one call's events on the channel's reactor.
// The handler must outlive the call (until OnDone returns).
class ClientCallHandler {
 public:
  virtual ~ClientCallHandler() = default;
  // OnInitialMetadata: the response headers arrived (not for Trailers-Only).
  virtual void OnInitialMetadata(const Metadata& metadata) {}
  // OnMessage delivers one response message (valid during the call).
  virtual void OnMessage(absl::Span<const uint8_t> message) {}
  // OnWriteDone: the last Write's message went out (ok) or the call ended
  // first (!ok).
  virtual void OnWriteDone(bool ok) {}
  // OnDone is the last event: the call's status and trailing metadata.
  virtual void OnDone(const absl::Status& status, const Metadata& trailers) = 0;
};

// ClientCall is one call in flight. Its methods may be called from any
// thread (they hop to the reactor when called elsewhere); the pointer is
// valid until the handler's OnDone returns.
class ClientCall {
 public:
  // Write sends one request message (`message` valid until OnWriteDone);
  // `last` half-closes after it. One write in flight at a time.
  virtual void Write(absl::Span<const uint8_t> message, bool last = false,
                     bool compress = false) = 0;
  // WritesDone half-closes (no more messages).
  virtual void WritesDone() = 0;
  // Cancel ends the call with CANCELLED (RST_STREAM CANCEL to the server).
  virtual void Cancel() = 0;
  // PauseReads / ResumeReads hold and return flow-control credit for
  // response bytes (a slow consumer pushes back on the server).
  virtual void PauseReads() = 0;
  virtual void ResumeReads() = 0;
  // initial_metadata returns the response headers' metadata (valid after
  // OnInitialMetadata, on the reactor thread).
  virtual const Metadata& initial_metadata() const = 0;
  virtual Reactor& reactor() const = 0;

 protected:
  ~ClientCall() = default;
};

// ConnectivityState follows gRPC's channel states.
enum class ConnectivityState { kIdle, kConnecting, kReady, kTransientFailure, kShutdown };

// ChannelStats counts a channel's connections and calls.
struct ChannelStats {
  uint64_t connects_attempted = 0;
  uint64_t connects_succeeded = 0;
  uint64_t calls_started = 0;
  uint64_t calls_retried = 0;  // moved to a new connection after REFUSED/GOAWAY
  uint64_t keepalive_pings = 0;  // keepalive PINGs sent
};

// Channel is a client's handle on one target ("HOST:PORT" or "unix:PATH").
// Thread-safe. Destroying it (or Shutdown) fails calls in flight with
// UNAVAILABLE ("channel shut down").
class Channel {
 public:
  // Create makes a channel; it dials on the first call. kInvalidArgument
  // without group or resources, or for an unparsable target.
  static absl::StatusOr<std::unique_ptr<Channel>> Create(const std::string& target,
                                                         ChannelOptions options);
  // Create with options shared by many channels (they are kept, not
  // copied: a process with thousands of channels pays for them once).
  static absl::StatusOr<std::unique_ptr<Channel>> Create(
      const std::string& target, std::shared_ptr<const ChannelOptions> options);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // StartCall starts a call to `method` ("/package.Service/Method"). Events
  // go to `handler` on the channel's reactor; OnDone always comes, also for a
  // call that cannot start.
  ClientCall* StartCall(absl::string_view method, CallOptions options, ClientCallHandler* handler);

  // Connect starts dialing now (calls do it lazily).
  void Connect();
  ConnectivityState state() const;
  // Shutdown closes the connection and fails calls in flight, and returns
  // once the connections have ended (the group may stop right after).
  // Idempotent; call from outside the group's threads.
  void Shutdown();

  Reactor& reactor() const;
  ChannelStats stats() const;
  // ConnectionHeapBytes returns the heap held by the channel's connection
  // (transport, session, HPACK tables, channel state), 0 if none.
  size_t ConnectionHeapBytes() const;
  // ConnectionLeasedBuffers returns the pool buffers it holds (0 idle).
  size_t ConnectionLeasedBuffers() const;

 private:
  explicit Channel(std::shared_ptr<ChannelImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<ChannelImpl> impl_;
};

}  // namespace alts::rpc

#endif  // ALTS_RPC_CHANNEL_H_
