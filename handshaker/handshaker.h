#ifndef ALTS_HANDSHAKER_HANDSHAKER_H_
#define ALTS_HANDSHAKER_HANDSHAKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protocol.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/clock.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/handshake_message.h"
#include "handshaker/handshake_result.h"
#include "handshaker/identity.h"
#include "handshaker/key_schedule.h"
#include "handshaker/peer_identity.h"
#include "handshaker/protocol_negotiation.h"
#include "handshaker/secret_array.h"
#include "handshaker/session_cache.h"
#include "handshaker/ticket_key_manager.h"
#include "handshaker/workload_credential.h"

namespace alts {

// HandshakerConfig is what many handshakes of one workload share: its
// credential, whom it trusts, resumption state and policy. Build it once,
// share it as std::shared_ptr<const HandshakerConfig>; every member is
// thread-safe or immutable.
struct HandshakerConfig {
  // Required: this workload's chain and static key.
  std::shared_ptr<const WorkloadCredential> credential;
  // Required: trust roots (and the verified-chain cache) for peers' chains.
  std::shared_ptr<CertificateVerifier> verifier;
  // Server: seals resumption tickets; nullptr disables resumption (every
  // ticket offered gets a ServerRetry).
  std::shared_ptr<TicketKeyManager> ticket_keys;
  // Client: keeps tickets per target; nullptr disables resumption.
  std::shared_ptr<SessionCache> session_cache;
  // Server: if non-empty, only client identities matching one of these
  // (IdentityMatches) are accepted; others fail with kPermissionDenied.
  std::vector<Identity> accepted_client_identities;
  // Each handshake must finish this long after it was created.
  absl::Duration deadline = kDefaultHandshakeDeadline;
  // Borrowed; must outlive every handshake. nullptr = SystemClock().
  const Clock* clock = nullptr;
  // Tests only: fills the randoms and ephemeral private keys instead of
  // RAND_bytes, to make handshakes reproducible. Empty in production.
  std::function<void(absl::Span<uint8_t>)> random_for_testing;
  // Interns the peer identities of established connections (see
  // PeerIdentityTable); nullptr = PeerIdentityTable::Global().
  std::shared_ptr<PeerIdentityTable> peer_identities;
};

// HandshakeParams are one handshake's offers and expectations.
struct HandshakeParams {
  // Client: offered, in preference order. Server: accepted, in preference
  // order (the server chooses). Must not be empty.
  std::vector<std::string> application_protocols = {"grpc"};
  // As above; REKEY preferred.
  std::vector<RecordProtocol> record_protocols = {RecordProtocol::kAes128GcmRekey,
                                                  RecordProtocol::kAes128Gcm};
  RpcVersionRange rpc_versions = kDefaultRpcVersions;
  // The largest frame this side accepts, stated to the peer (0 = none).
  uint32_t max_frame_size = 0;
  // Client: the server must match one of these (empty = any trusted server).
  std::vector<Identity> target_identities;
  // Client: key of the session cache entry used for resumption (empty = do
  // not resume and do not store a ticket). Entries are also bound to the
  // credential's static key.
  std::string session_key;
};

// SessionCacheKey returns the SessionCache key a client handshake with
// `session_key` uses: the key bound to the credential's static public key,
// so a cache shared by several credentials never hands one workload
// another's session.
std::string SessionCacheKey(absl::string_view session_key,
                            const WorkloadCredential& credential);

// Handshaker runs one handshake (docs/handshake.md) for one side as a pure
// state machine: bytes from the peer in, bytes for the peer out, no I/O.
// The client calls Start once, then both sides call Step with whatever the
// peer sent, writing every byte appended to `out` to the peer, until done().
// Any error is sticky: later calls return it. Not thread-safe.
class Handshaker {
 public:
  // Create makes a handshaker for `side`. Returns kInvalidArgument for a
  // config without credential or verifier, or params without protocols.
  static absl::StatusOr<std::unique_ptr<Handshaker>> Create(
      Side side, std::shared_ptr<const HandshakerConfig> config, HandshakeParams params);
  ~Handshaker();

  // Start (client only) appends the ClientInit to `out`. Returns
  // kFailedPrecondition if called twice or on a server.
  absl::Status Start(std::string* out);

  // Step consumes bytes from the front of `in`, appends any reply to `out`
  // and returns how many bytes it consumed: all of `in` until the handshake
  // is done; on the step that completes it, exactly the bytes up to the end
  // of the last handshake message (what follows is record data). Errors are
  // those of docs/handshake.md section 4.2; `out` may still hold bytes for
  // the peer. After done(), returns kFailedPrecondition.
  absl::StatusOr<size_t> Step(absl::Span<const uint8_t> in, std::string* out);

  // done returns true once the handshake completed successfully.
  bool done() const { return state_ == State::kDone; }
  // status returns the sticky failure, or OK.
  const absl::Status& status() const { return status_; }
  // result is valid once done().
  const HandshakeResult& result() const { return result_; }
  // side returns which end this handshaker plays.
  Side side() const { return side_; }
  // config returns the shared configuration this handshake runs with.
  const HandshakerConfig& config() const { return *config_; }

 private:
  enum class State {
    kStart,                  // client: before Start
    kWaitServerInit,         // client
    kWaitServerFinished,     // client
    kWaitClientInit,         // server
    kWaitRetriedClientInit,  // server: sent ServerRetry
    kWaitClientFinished,     // server
    kDone,
    kFailed,
  };

  Handshaker(Side side, std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
             absl::Time deadline);

  absl::Status Fail(absl::Status status);
  absl::Status CheckDeadline();
  absl::Status FillRandom(absl::Span<uint8_t> out) const;
  absl::Status NewEphemeral();
  void WipeSecrets();
  absl::Time Now() const { return clock_->Now(); }

  absl::Status HandleMessage(std::string* out);
  absl::Status SendClientInit(std::string* out);
  absl::Status HandleServerInit(std::string* out);
  absl::Status HandleServerFinished(std::string* out);
  absl::Status HandleClientInit(std::string* out);
  absl::Status HandleClientFinished();
  // VerifyPeerFinished checks the Finished message being handled (`name`)
  // against the MAC under `label` over `th` and adds it to the transcript.
  // kInvalidArgument for a wrong size, kDataLoss for a MAC mismatch.
  absl::Status VerifyPeerFinished(absl::string_view name, absl::string_view label,
                                  const TranscriptHash& th);
  std::string SessionCacheKey() const;
  void AppendAndHash(MessageType type, absl::Span<const uint8_t> body, std::string* out);

  const Side side_;
  const std::shared_ptr<const HandshakerConfig> config_;
  const HandshakeParams params_;
  const Clock* const clock_;
  const absl::Time deadline_;
  State state_;
  absl::Status status_;

  MessageReader reader_;
  Transcript transcript_;
  TranscriptHash th1_{};  // through the ClientInit being answered
  TranscriptHash th2_{};  // through ServerInit
  TranscriptHash th3_{};  // through ServerFinished

  SecretArray<32> ephemeral_private_;
  std::array<uint8_t, 32> ephemeral_public_{};
  ChainingKey ck_;
  SecretArray<32> new_resumption_secret_;

  // Client: the session offered (ticket + secret), the ticket received.
  std::optional<ClientSession> offered_session_;
  bool retried_ = false;
  std::string received_ticket_;
  uint32_t received_ticket_lifetime_s_ = 0;
  // Validity cap for tickets: the peer chain's expiry (carried through
  // resumptions).
  absl::Time peer_not_after_ = absl::InfiniteFuture();
  // The root the peer's chain verified under (carried through resumptions).
  KeyId peer_root_key_id_{};

  HandshakeResult result_;
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKER_H_
