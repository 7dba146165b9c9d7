#ifndef ALTS_HANDSHAKER_HANDSHAKER_ENGINE_H_
#define ALTS_HANDSHAKER_HANDSHAKER_ENGINE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "handshaker/handshaker.h"
#include "handshaker/proto/handshaker.pb.h"

namespace alts {

// HandshakerEngine runs one handshake through gRPC's handshaker API: it
// takes the HandshakerReq messages a gRPC ALTS client would send to the
// handshaker service (client_start / server_start / next) and answers each
// with exactly one HandshakerResp, keeping every rule of the handshaker
// service (docs/handshake.md section 7):
//   1. status is always set (code 0 on success);
//   2. before the result all of in_bytes is consumed, partial messages are
//      buffered inside;
//   3. the response with the result has an exact bytes_consumed;
//   4. a result fills every field gRPC needs (key_data is 64 bytes);
//   6./7. RPC versions and max frame size are negotiated as gRPC does.
// A failure is sticky: every later request gets the same status. Pure: no
// I/O. Not thread-safe (one stream, one request at a time).
class HandshakerEngine {
 public:
  // The engine shares `config` (credential, trust, resumption, clock).
  explicit HandshakerEngine(std::shared_ptr<const HandshakerConfig> config);

  // Next handles one request and fills `resp` (cleared first).
  void Next(const grpc::gcp::HandshakerReq& req, grpc::gcp::HandshakerResp* resp);
  // Next returns the response to one request.
  grpc::gcp::HandshakerResp Next(const grpc::gcp::HandshakerReq& req);

  // done returns true once a response carried the result.
  bool done() const { return handshaker_ != nullptr && handshaker_->done(); }
  // status returns the sticky failure, or OK.
  const absl::Status& status() const { return status_; }
  // handshaker returns the typed handshake (nullptr before a start request);
  // its result() is valid once done().
  const Handshaker* handshaker() const { return handshaker_.get(); }

 private:
  absl::Status StartClient(const grpc::gcp::StartClientHandshakeReq& req, std::string* out);
  absl::Status StartServer(const grpc::gcp::StartServerHandshakeReq& req);

  const std::shared_ptr<const HandshakerConfig> config_;
  std::unique_ptr<Handshaker> handshaker_;
  absl::Status status_;
};

// WipeHandshakerResp zeroes the key_data of a response's result (and its
// out_frames) once the caller has used it.
void WipeHandshakerResp(grpc::gcp::HandshakerResp* resp);

// SessionKeyFor returns the session-cache key a client start request maps
// to: target_name, else the first target service account, else the remote
// endpoint "ip:port"; empty if none (no resumption).
std::string SessionKeyFor(const grpc::gcp::StartClientHandshakeReq& req);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKER_ENGINE_H_
