#ifndef ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKE_STREAM_H_
#define ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKE_STREAM_H_

// The per-stream logic of the handshaker service (docs/handshaker-service.md):
// one DoHandshake stream's requests in, the responses and the stream's end
// out, with no I/O, so that tests and the fuzzer drive it without sockets.
// The RPC glue (handshaker_service.h) adds the concurrency limit, the
// deadline timer and the lock-step output queue.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/clock.h"
#include "handshaker/handshaker.h"
#include "handshaker/handshaker_engine.h"
#include "handshaker/identity.h"
#include "handshaker/proto/handshaker.pb.h"
#include "handshaker/workload_credential.h"

namespace alts::handshaker_service {

// kDoHandshakeMethod is the one method the service serves.
inline constexpr char kDoHandshakeMethod[] = "/grpc.gcp.HandshakerService/DoHandshake";

// kMaxHandshakerRequestSize bounds one serialized HandshakerReq: a request
// carries at most one read of the peer's bytes (gRPC-Go reads 64 KiB at a
// time; C-core and Java read less) and a whole legitimate handshake flight is
// under 20 KiB, so anything larger is not a handshake. It is also what one
// stream may make the service buffer for a request.
inline constexpr size_t kMaxHandshakerRequestSize = 128 * 1024;

// kMaxServiceCredentials bounds --cert/--key pairs: each one is a config
// searched linearly for every start request.
inline constexpr size_t kMaxServiceCredentials = 64;

// kMaxRequestedIdentities bounds the local identities one server_start may
// list (each is matched against every credential).
inline constexpr size_t kMaxRequestedIdentities = 16;

// ServiceOptions are what every stream of one service shares.
struct ServiceOptions {
  // Required: the workload credentials the service handshakes as; the first
  // is the default for requests that name no local identity.
  std::vector<std::shared_ptr<const WorkloadCredential>> credentials;
  // Required: whom the service trusts (peers' chains are verified here).
  std::shared_ptr<CertificateVerifier> verifier;
  // Server side: only peers matching one of these are accepted (empty: any
  // peer with a trusted chain).
  std::vector<Identity> allowed_peers;
  // Every handshake must finish this long after its stream opened.
  absl::Duration handshake_timeout = kDefaultHandshakeDeadline;
  // Resumption: the service issues tickets (server side) and keeps them
  // (client side), as the in-process engine does.
  bool resumption = true;
  // Borrowed; nullptr = SystemClock(). Tests inject one.
  const Clock* clock = nullptr;
};

// ServiceIdentities holds one HandshakerConfig per credential (sharing the
// verifier, ticket keys and session cache) and picks the one a start request
// asks for. Immutable and thread-safe.
class ServiceIdentities {
 public:
  // Create builds the configs. kInvalidArgument without credentials or
  // verifier, with more than kMaxServiceCredentials, with two credentials of
  // the same identity, or for a non-positive timeout; the ticket key
  // manager's errors otherwise.
  static absl::StatusOr<std::shared_ptr<const ServiceIdentities>> Create(ServiceOptions options);

  // ForClient returns the config for a client_start: the credential whose
  // identity matches `local_identity` (service account and any attributes
  // given), or the default one when the request names none. kNotFound if
  // no credential matches (a hostname identity never does).
  absl::StatusOr<std::shared_ptr<const HandshakerConfig>> ForClient(
      const grpc::gcp::StartClientHandshakeReq& req) const;

  // ForServer returns the config for a server_start: the first credential
  // (in --cert order) matching any of the ALTS parameters' local_identities,
  // or the default one when none are listed. kNotFound if none matches,
  // kInvalidArgument without ALTS parameters or with more than
  // kMaxRequestedIdentities identities.
  absl::StatusOr<std::shared_ptr<const HandshakerConfig>> ForServer(
      const grpc::gcp::StartServerHandshakeReq& req) const;

  // size returns the number of credentials.
  size_t size() const { return configs_.size(); }
  // identity returns the i-th credential's identity (i < size()).
  const Identity& identity(size_t i) const { return configs_[i]->credential->identity(); }
  // handshake_timeout returns the per-handshake deadline.
  absl::Duration handshake_timeout() const { return handshake_timeout_; }

 private:
  ServiceIdentities(std::vector<std::shared_ptr<const HandshakerConfig>> configs,
                    absl::Duration timeout)
      : configs_(std::move(configs)), handshake_timeout_(timeout) {}
  absl::StatusOr<std::shared_ptr<const HandshakerConfig>> Match(
      absl::Span<const grpc::gcp::Identity* const> wanted) const;

  std::vector<std::shared_ptr<const HandshakerConfig>> configs_;
  absl::Duration handshake_timeout_;
};

// RequestSide returns the role a first request starts a handshake for
// (client_start: kClient, server_start: kServer), or nullopt for a request
// that cannot start one (it fails at once, without a handshake slot).
std::optional<Side> RequestSide(absl::Span<const uint8_t> message);

// StreamAction is what the transport does after one stream event, in this
// order: write `response` (if `write`), then end the RPC with `status` (if
// `finish`).
struct StreamAction {
  bool write = false;
  // A serialized HandshakerResp. Secret (the result's key_data): the
  // transport wipes it (WipeString) once written.
  std::string response;
  bool finish = false;
  absl::Status status;
};

// StreamOutcome says how a finished stream ended, for statistics and logs.
enum class StreamOutcome {
  kOpen,       // not finished yet
  kCompleted,  // the result was sent
  kFailed,     // the handshake or a request failed
  kAbandoned,  // half-closed, timed out or cancelled before the result
};

// HandshakeStream is one DoHandshake stream: the lock-step conversation of
// docs/handshaker-service.md section 2. The first request must start a
// handshake (client_start or server_start); every request gets exactly one
// response until the stream ends:
//   - a first request that cannot start a handshake gets a response whose
//     status says why, and the stream ends with that status;
//   - a later failure ends the stream with a non-OK status and no response
//     (gRPC-Go reads HandshakerResp.status only on the first response, and
//     would otherwise wait for the peer);
//   - the response carrying the result ends the stream with OK.
// Not thread-safe: one transport drives it.
class HandshakeStream {
 public:
  explicit HandshakeStream(std::shared_ptr<const ServiceIdentities> identities);
  ~HandshakeStream();
  HandshakeStream(const HandshakeStream&) = delete;
  HandshakeStream& operator=(const HandshakeStream&) = delete;

  // OnRequest handles one request message (a serialized HandshakerReq).
  // After the stream finished it returns an empty action.
  StreamAction OnRequest(absl::Span<const uint8_t> message);

  // OnHalfClose: the client sends no more requests. Before the result this
  // ends the stream with kCancelled.
  StreamAction OnHalfClose();

  // OnDeadline: the handshake timeout passed. Ends the stream with
  // kDeadlineExceeded; a first request that was waiting to start (the
  // transport holds it while the concurrency limit queues the stream) gets
  // a response saying so.
  StreamAction OnDeadline(bool first_request_waiting);

  // Refuse ends the stream before its first request could start: the
  // response carries `status` (e.g. kResourceExhausted when the service's
  // queue is full), as a first response must.
  StreamAction Refuse(absl::Status status);

  // Fail ends the stream with `status` and no response: the transport's
  // own errors after the first response (a client that does not wait for
  // responses).
  StreamAction Fail(absl::Status status);

  // OnCancel: the client went away (reset, connection lost). Frees the
  // handshake state; the stream is over.
  void OnCancel();

  // finished returns true once an action ended the stream (or OnCancel).
  bool finished() const { return outcome_ != StreamOutcome::kOpen; }
  // outcome says how it ended.
  StreamOutcome outcome() const { return outcome_; }
  // status returns the status the stream ended with (OK while open).
  const absl::Status& status() const { return status_; }
  // requests returns how many requests were handled.
  size_t requests() const { return requests_; }
  // side returns the role of the handshake (valid once started()).
  Side side() const { return side_; }
  // started returns true once a start request created the handshake.
  bool started() const { return engine_ != nullptr; }
  // engine returns the handshake (nullptr before the start request or after
  // the stream ended); its handshaker()->result() is valid once done().
  const HandshakerEngine* engine() const { return engine_.get(); }
  // peer returns the peer's service account once completed ("" otherwise).
  const std::string& peer() const { return peer_; }
  // local returns the service account this side used ("" before start).
  const std::string& local() const { return local_; }

 private:
  StreamAction HandleFirst(const grpc::gcp::HandshakerReq& req);
  StreamAction HandleLater(const grpc::gcp::HandshakerReq& req);
  StreamAction Respond(grpc::gcp::HandshakerResp& resp, bool first);
  StreamAction StatusResponse(const absl::Status& status);
  StreamAction End(absl::Status status, StreamOutcome outcome);

  const std::shared_ptr<const ServiceIdentities> identities_;
  std::unique_ptr<HandshakerEngine> engine_;
  grpc::gcp::HandshakerReq req_;
  grpc::gcp::HandshakerResp resp_;
  StreamOutcome outcome_ = StreamOutcome::kOpen;
  absl::Status status_;
  size_t requests_ = 0;
  Side side_ = Side::kClient;
  std::string peer_;
  std::string local_;
};

}  // namespace alts::handshaker_service

#endif  // ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_HANDSHAKE_STREAM_H_
