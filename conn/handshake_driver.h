#ifndef ALTS_CONN_HANDSHAKE_DRIVER_H_
#define ALTS_CONN_HANDSHAKE_DRIVER_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/wake_queue.h"
#include "handshaker/handshake_limiter.h"
#include "handshaker/handshake_result.h"
#include "handshaker/handshaker.h"
#include "handshaker/peer_identity.h"
#include "handshaker/proto/altscontext.pb.h"

namespace alts {

// EstablishedConnection is what a successful handshake hands over: the
// secure connection (not yet started: call Start with a handler) and the
// peer's authenticated identity for authorization. Keep `peer` for the
// life of the connection: it is one shared, interned object per distinct
// peer identity (see PeerIdentityTable), so holding it costs 16 bytes.
struct EstablishedConnection {
  std::unique_ptr<SecureConnection> connection;
  // Never null on success.
  std::shared_ptr<const PeerIdentity> peer;
  bool resumed = false;
  // The peer's network address ("1.2.3.4:5678"; empty if unknown). A failed
  // handshake's status carries it too: see PeerAddressOf.
  std::string peer_address;

  // context builds gRPC's AltsContext proto from `peer` (allocates; for
  // callers that want the proto).
  grpc::gcp::AltsContext context() const { return peer->ToAltsContext(); }
};

// kPeerAddressPayload is the absl::Status payload URL under which a failed
// handshake's status carries the peer's address.
inline constexpr char kPeerAddressPayload[] = "type.alts/peer_address";

// PeerAddressOf returns the peer address a failed handshake's status
// carries ("1.2.3.4:5678"), or "" if it has none.
std::string PeerAddressOf(const absl::Status& status);

// HandshakeCallback receives the outcome of one handshake, on the
// connection's reactor thread.
using HandshakeCallback = absl::AnyInvocable<void(absl::StatusOr<EstablishedConnection>)>;

// kMaxHandshakeOutput: bytes of handshake output we queue when the peer
// does not read (a whole flight is a few KiB; more means a stuck peer).
inline constexpr size_t kMaxHandshakeOutput = 256 * 1024;

// HandshakeDriver runs one ALTS handshake over a connected non-blocking
// socket on a reactor, with the same buffer discipline as the secure
// connection: while it waits for the peer it holds no pool buffer (the
// handshaker keeps only the bytes of a partial message). It takes a slot
// from the HandshakeLimiter (queued beyond the cap) before it works on the
// handshake: a client at once, a server only once the client's first bytes
// are in (the handshaker API has the server wait for them), so connections
// that never send anything hold no slot and cannot starve real handshakes.
// It enforces the deadline (counted from Create, whether waiting for bytes,
// queued or running) with a timer, and on success hands the
// socket, the record protector and the bytes that followed the last
// handshake message to a new SecureConnection.
//
// Threading: create, use and destroy on the reactor thread. The callback
// runs there exactly once (unless the driver is destroyed first) and may
// destroy the driver.
class HandshakeDriver final : private BufferWaiter,
                              private WakeNode,
                              private HandshakeLimiter::Waiter {
 public:
  // Create takes ownership of `fd` and starts (or queues) the handshake.
  // `limiter` may be nullptr (no cap). Errors that happen before anything
  // starts are returned; later ones go to `done`.
  static absl::StatusOr<std::unique_ptr<HandshakeDriver>> Create(
      Reactor& reactor, int fd, Side side, std::shared_ptr<const HandshakerConfig> config,
      HandshakeParams params, const ConnectionResources* resources,
      HandshakeLimiter* limiter, HandshakeCallback done);

  // CreateDialing is Create for a client that still has to connect to
  // `address`. It connects only once it holds a handshake slot, so queued
  // dials hold no socket, and a process that both dials and accepts cannot
  // have its running client handshakes wait on server halves stuck behind
  // connections whose clients are queued. The connect counts against the
  // same deadline.
  static absl::StatusOr<std::unique_ptr<HandshakeDriver>> CreateDialing(
      Reactor& reactor, const SocketAddress& address,
      std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
      const ConnectionResources* resources, HandshakeLimiter* limiter, HandshakeCallback done);

  ~HandshakeDriver() override;
  HandshakeDriver(const HandshakeDriver&) = delete;
  HandshakeDriver& operator=(const HandshakeDriver&) = delete;

  // Abort ends the handshake now with `reason` (reported through the
  // callback unless it already ran).
  void Abort(absl::Status reason);

  // finished returns true once the callback has run (or is running).
  bool finished() const { return finished_; }

  // HeapBytes returns what this in-progress handshake holds.
  size_t HeapBytes() const { return sizeof(*this) + out_.capacity(); }

 private:
  // kAwaitingFirstBytes: a server with a limiter, before the client sent
  // anything (no slot held, not queued).
  enum class State { kAwaitingFirstBytes, kQueued, kRunning, kFlushingLast, kDone };

  HandshakeDriver(Reactor& reactor, int fd, std::unique_ptr<Handshaker> handshaker,
                  const ConnectionResources* resources, HandshakeLimiter* limiter,
                  HandshakeCallback done, absl::Duration deadline);
  static absl::StatusOr<std::unique_ptr<HandshakeDriver>> CreateImpl(
      Reactor& reactor, int fd, const SocketAddress* connect_to, Side side,
      std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
      const ConnectionResources* resources, HandshakeLimiter* limiter, HandshakeCallback done);
  // StartConnect opens the socket to connect_to_ (slot held); false if it
  // failed (Finish ran).
  bool StartConnect();

  static void OnEvent(evutil_socket_t fd, short what, void* arg);
  void OnBufferAvailable() override;          // any thread
  void OnSlotGranted(HandshakeLimiter::Slot slot) override;  // any thread
  void OnWake() override;                     // reactor thread

  void Begin();
  // HandleFirstBytes checks (without reading) that the client sent
  // something, then takes or queues for a slot.
  void HandleFirstBytes();
  // TakeSlot asks the limiter for a slot: held now, or queued (returns
  // false), or refused (Finish ran; returns false).
  bool TakeSlot();
  void HandleReadable();
  // Receive reads from the socket into `into` (recv flags `flags`): returns
  // the bytes read, 0 if none are there yet, or -1 once Finish ran (a read
  // error, or the peer closed: `closed_message`).
  ssize_t Receive(absl::Span<uint8_t> into, int flags, absl::string_view closed_message);
  // Flush writes queued output; returns false on a fatal write error.
  bool Flush();
  void UpdateInterest();
  void Complete(absl::Span<const uint8_t> leftover);
  void Finish(absl::StatusOr<EstablishedConnection> outcome);
  // PeerAddress returns the peer's address as text, or "" if unknown.
  std::string PeerAddress() const;
  // LeaveLimiterQueue takes the driver out of the limiter's queue (waiting
  // for an in-flight grant if it lost the race).
  void LeaveLimiterQueue();

  Reactor& reactor_;
  int fd_;
  std::unique_ptr<Handshaker> handshaker_;
  const ConnectionResources* resources_;
  HandshakeLimiter* limiter_;
  HandshakeCallback done_;
  absl::Time deadline_;
  struct event event_;
  short registered_ = 0;
  State state_ = State::kQueued;
  HandshakeLimiter::Slot slot_;
  // Guards granted_ and slot_pending_, written by OnSlotGranted.
  std::mutex grant_mu_;
  HandshakeLimiter::Slot granted_;
  bool slot_pending_ = false;
  bool queued_in_limiter_ = false;
  bool waiting_for_buffer_ = false;
  bool connecting_ = false;   // connect in progress, waiting for writability
  bool needs_connect_ = false;  // dialing: connect once the slot is held
  SocketAddress connect_to_;
  bool finished_ = false;
  bool* alive_ = nullptr;
  // Handshake bytes for the peer not yet written.
  std::string out_;
  size_t out_sent_ = 0;
  // Record bytes that followed the last handshake message (kFlushingLast).
  std::string leftover_;
};

}  // namespace alts

#endif  // ALTS_CONN_HANDSHAKE_DRIVER_H_
