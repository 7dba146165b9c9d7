#ifndef ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKER_SERVICE_H_
#define ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKER_SERVICE_H_

// grpc.gcp.HandshakerService/DoHandshake served on the project's RPC server
// (rpc/server.h, plaintext h2c as gRPC dials its handshaker): one
// HandshakeStream per call, plus what only a transport can do: the
// concurrency limit (queued, not dropped), the per-handshake deadline timer,
// and holding back responses so at most one is in flight.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handshaker/handshake_limiter.h"
#include "rpc/server.h"
#include "tools/alts_handshaker_service/handshake_stream.h"

namespace alts::handshaker_service {

// kMaxStreamsPerConnection is the MAX_CONCURRENT_STREAMS the service
// advertises: gRPC-Go multiplexes every handshake of a process (client and
// server side, up to 100 each) over one connection, and a server side opens
// its stream before the client's first bytes arrive; with a low cap those
// idle streams would hold up the process's other handshakes. What a stream
// may make the service hold is bounded (see kMaxHandshakerRequestSize).
inline constexpr uint32_t kMaxStreamsPerConnection = 1024;

// StreamReport describes one finished stream (for logs and statistics).
struct StreamReport {
  StreamOutcome outcome = StreamOutcome::kOpen;
  bool started = false;  // a start request created a handshake
  Side side = Side::kClient;
  std::string local;  // our service account, if started
  std::string peer;   // the peer's, if completed
  absl::Status status;
  std::string client_address;  // the service client's address
  absl::Duration elapsed;      // from the stream's start
};

// HandshakerServiceOptions configure a HandshakerService.
struct HandshakerServiceOptions {
  // Handshakes of each role (client side, server side) that run at once;
  // the rest wait, first come first served. gRPC's default; the tool also
  // reads GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES.
  size_t max_concurrent = kDefaultMaxConcurrentHandshakes;
  // Streams of each role that may wait for a slot; beyond this a start request gets
  // kResourceExhausted.
  size_t max_queued = kDefaultMaxQueuedHandshakes;
  // on_stream_end, if set, runs on the stream's reactor thread when a
  // stream ends (must not block).
  std::function<void(const StreamReport&)> on_stream_end;
};

// ServiceStats counts a service's streams.
struct ServiceStats {
  uint64_t streams = 0;    // calls opened
  uint64_t completed = 0;  // results sent
  uint64_t failed = 0;     // refused requests and failed handshakes
  uint64_t abandoned = 0;  // half-closed, timed out or cancelled before the result
  uint64_t open = 0;       // streams not finished yet
  size_t running = 0;      // handshakes holding a slot
  size_t queued = 0;       // streams waiting for one
};

// HandshakerService serves DoHandshake. Register it on a plaintext
// rpc::Server configured with ConfigureServer. It must outlive every server
// it is registered on and that server's reactor group (slots may be released
// by tasks the group drops at shutdown). Thread-safe.
class HandshakerService {
 public:
  HandshakerService(std::shared_ptr<const ServiceIdentities> identities,
                    HandshakerServiceOptions options);
  ~HandshakerService();
  HandshakerService(const HandshakerService&) = delete;
  HandshakerService& operator=(const HandshakerService&) = delete;

  // ConfigureServer sets what the service needs of its server: request
  // messages up to kMaxHandshakerRequestSize, kMaxStreamsPerConnection
  // streams per connection.
  static void ConfigureServer(rpc::ServerOptions& options);

  // Register serves kDoHandshakeMethod on `server` (before its first
  // listener). Errors as rpc::Server::RegisterMethod.
  absl::Status Register(rpc::Server& server);

  // stats returns the current counts.
  ServiceStats stats() const;

  // identities returns the credentials the service handshakes with.
  const ServiceIdentities& identities() const { return *identities_; }

 private:
  friend class DoHandshakeCall;
  void Ended(const StreamReport& report);

  const std::shared_ptr<const ServiceIdentities> identities_;
  const HandshakerServiceOptions options_;
  // Client-side and server-side handshakes wait for slots apart: a client
  // handshake waits for its server's, and with one queue a service serving
  // both ends of its own connections could fill every slot with clients
  // whose servers wait behind them.
  HandshakeLimiter client_limiter_;
  HandshakeLimiter server_limiter_;
  std::atomic<uint64_t> streams_{0}, completed_{0}, failed_{0}, abandoned_{0};
};

}  // namespace alts::handshaker_service

#endif  // ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKER_SERVICE_H_
