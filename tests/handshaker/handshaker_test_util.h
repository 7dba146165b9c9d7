#ifndef ALTS_TESTS_HANDSHAKER_HANDSHAKER_TEST_UTIL_H_
#define ALTS_TESTS_HANDSHAKER_HANDSHAKER_TEST_UTIL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/clock.h"
#include "handshaker/handshaker.h"
#include "handshaker/handshaker_engine.h"
#include "handshaker/proto/handshaker.pb.h"
#include "handshaker/workload_credential.h"

namespace alts::testing {

// FakeClock is a settable clock, safe to read from several threads.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000))
      : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(nanos_.load()); }
  void Advance(absl::Duration d) { nanos_ += absl::ToInt64Nanoseconds(d); }
  void Set(absl::Time t) { nanos_ = absl::ToUnixNanos(t); }

 private:
  std::atomic<int64_t> nanos_;
};

// TestPki is a root, an intermediate under it, and helpers to issue leaves.
struct TestPki {
  explicit TestPki(absl::Time now, absl::string_view root_name = "test-root");
  // Leaf issues an X25519 leaf for `service_account`, directly under the
  // root or under the intermediate, valid [now - 1h, now + 24h) unless given.
  std::shared_ptr<const WorkloadCredential> Leaf(
      absl::string_view service_account, bool via_intermediate = false,
      std::map<std::string, std::string> attributes = {},
      absl::Duration valid_before = absl::Hours(1), absl::Duration valid_after = absl::Hours(24));
  std::shared_ptr<CertificateVerifier> Verifier(size_t cache = kDefaultChainCacheCapacity) const;

  absl::Time now;
  SigningKey root;
  SigningKey intermediate;
  std::string intermediate_cert;
};

// SignCertificate signs `body` with `signer` as a certificate whose
// unsigned hint is `hint` (default: the signer's key id), without any of
// IssueCertificate's checks: for certificates a correct issuer would never
// make.
std::string SignCertificate(const SigningKey& signer, const handshake::CertificateBody& body,
                            absl::string_view hint = {});

// BodyFor returns a well-formed certificate body of `kind` for `public_key`
// named `subject`, issued by `issuer`, valid [now - 1h, now + 24h).
handshake::CertificateBody BodyFor(handshake::CertificateKind kind,
                                   absl::Span<const uint8_t> public_key,
                                   absl::string_view subject, const SigningKey& issuer,
                                   absl::Time now);

// MakeConfig builds a shared config with `clock`.
std::shared_ptr<HandshakerConfig> MakeConfig(std::shared_ptr<const WorkloadCredential> credential,
                                             std::shared_ptr<CertificateVerifier> verifier,
                                             const Clock* clock);

// Request builders with gRPC's usual values (["grpc"], REKEY, 2.1..2.1).
grpc::gcp::HandshakerReq ClientStartReq(std::vector<std::string> targets = {},
                                        uint32_t max_frame_size = 0,
                                        absl::string_view target_name = "server.test");
grpc::gcp::HandshakerReq ServerStartReq(
    absl::string_view in_bytes, uint32_t max_frame_size = 0,
    const std::vector<std::string>& record_protocols = {"ALTSRP_GCM_AES128_REKEY"});
grpc::gcp::HandshakerReq NextReq(absl::string_view in_bytes);

// CheckRespRules checks the handshaker-service rules on one response to a
// request carrying `in_size` bytes: status set; before the result all bytes
// consumed; a result complete. Records gtest failures.
void CheckRespRules(const grpc::gcp::HandshakerResp& resp, size_t in_size);

// HandshakeRun is what happened when two engines talked through RunHandshake.
struct HandshakeRun {
  bool client_done = false;
  bool server_done = false;
  absl::Status client_status;
  absl::Status server_status;
  grpc::gcp::HandshakerResult client_result;
  grpc::gcp::HandshakerResult server_result;
  std::string c2s;  // every byte the client sent, in order
  std::string s2c;  // every byte the server sent, in order
  std::string server_leftover;  // bytes after the server's result (records)
  int responses = 0;
};

// RunOptions shape a run.
struct RunOptions {
  size_t chunk = SIZE_MAX;  // deliver at most this many bytes per request
  // Tamper may change bytes about to be delivered; `offset` is where they
  // start in the sender's stream.
  std::function<void(bool to_server, size_t offset, std::string& bytes)> tamper;
  // Appended to the client's flight that carries ClientFinished.
  std::string client_records;
  // Called once when the client got its result; may append to `records`.
  std::function<void(const grpc::gcp::HandshakerResult&, std::string& records)> on_client_result;
  // What the server's start request allows, in its preference order.
  std::vector<std::string> server_record_protocols = {"ALTSRP_GCM_AES128_REKEY"};
  // Advanced (past the deadline) when both sides stall, to end the run.
  FakeClock* clock = nullptr;
};

// RunHandshake drives a client and a server engine until both are done or
// one failed (or both stalled: then the clock passes the deadline), checking
// CheckRespRules on every response.
HandshakeRun RunHandshake(HandshakerEngine& client, HandshakerEngine& server,
                 const grpc::gcp::HandshakerReq& client_start, const RunOptions& options = {},
                 uint32_t server_max_frame_size = 0);

// Message is one framed handshake message cut out of a stream.
struct Message {
  uint8_t type = 0;
  size_t offset = 0;  // where it starts in the stream
  std::string bytes;  // framed (header included)
};

// SplitMessages cuts a stream into framed messages; trailing bytes that are
// not a whole message end the list.
std::vector<Message> SplitMessages(absl::string_view stream);

// Frame frames a body as a message of `type`.
std::string Frame(uint8_t type, absl::string_view body);

// SpecificCode returns true for the codes docs/handshake.md section 4.2 uses
// for peer faults (not OK, not UNKNOWN or INTERNAL).
bool SpecificCode(absl::StatusCode code);

}  // namespace alts::testing

#endif  // ALTS_TESTS_HANDSHAKER_HANDSHAKER_TEST_UTIL_H_
