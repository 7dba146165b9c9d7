#ifndef ALTS_HANDSHAKER_WORKLOAD_CREDENTIAL_H_
#define ALTS_HANDSHAKER_WORKLOAD_CREDENTIAL_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/identity.h"
#include "handshaker/secret_array.h"

namespace alts {

// WorkloadCredential is what a workload proves its identity with: its
// certificate chain (leaf first, exact bytes as issued) and the leaf's X25519
// private key, wiped on destruction. Immutable and shared between
// handshakes.
class WorkloadCredential {
 public:
  // Create parses the leaf (it is our own certificate, so its signature is
  // not checked here; peers check it) and checks that `private_key` is the
  // private half of the leaf's X25519 key. Returns kInvalidArgument for an
  // empty chain, an unparsable or non-leaf first certificate, a bad key size
  // or a key that does not match the leaf.
  static absl::StatusOr<std::shared_ptr<const WorkloadCredential>> Create(
      std::vector<std::string> chain, absl::Span<const uint8_t> private_key);

  // CreateWithoutKeyCheckForTesting is Create without the key match check:
  // for tests that impersonate a workload with its certificate but another key.
  static absl::StatusOr<std::shared_ptr<const WorkloadCredential>>
  CreateWithoutKeyCheckForTesting(std::vector<std::string> chain,
                                  absl::Span<const uint8_t> private_key);

  // chain returns the certificates, leaf first, exactly as issued.
  const std::vector<std::string>& chain() const { return chain_; }
  // identity returns the leaf's service account and attributes.
  const Identity& identity() const { return identity_; }
  // public_key returns the leaf's X25519 static public key.
  const std::array<uint8_t, 32>& public_key() const { return public_key_; }
  // private_key returns the X25519 static private key (secret).
  const SecretArray<32>& private_key() const { return private_key_; }
  // not_after is the leaf's expiry; tickets for this workload never outlive it.
  absl::Time not_after() const { return not_after_; }

 private:
  WorkloadCredential() = default;
  static absl::StatusOr<std::shared_ptr<const WorkloadCredential>> CreateImpl(
      std::vector<std::string> chain, absl::Span<const uint8_t> private_key, bool check_key);

  std::vector<std::string> chain_;
  Identity identity_;
  std::array<uint8_t, 32> public_key_{};
  SecretArray<32> private_key_;
  absl::Time not_after_;
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_WORKLOAD_CREDENTIAL_H_
