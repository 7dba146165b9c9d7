#include "handshaker/workload_credential.h"

#include <openssl/curve25519.h>
#include <openssl/mem.h>

#include <algorithm>
#include <cstring>

#include "handshaker/certificate.h"
#include "handshaker/handshake_limits.h"

namespace alts {

absl::StatusOr<std::shared_ptr<const WorkloadCredential>> WorkloadCredential::Create(
    std::vector<std::string> chain, absl::Span<const uint8_t> private_key) {
  return CreateImpl(std::move(chain), private_key, /*check_key=*/true);
}

absl::StatusOr<std::shared_ptr<const WorkloadCredential>>
WorkloadCredential::CreateWithoutKeyCheckForTesting(std::vector<std::string> chain,
                                                    absl::Span<const uint8_t> private_key) {
  return CreateImpl(std::move(chain), private_key, /*check_key=*/false);
}

absl::StatusOr<std::shared_ptr<const WorkloadCredential>> WorkloadCredential::CreateImpl(
    std::vector<std::string> chain, absl::Span<const uint8_t> private_key, bool check_key) {
  if (chain.empty()) return absl::InvalidArgumentError("credential: empty chain");
  if (chain.size() > kMaxChainCertificates) {
    return absl::InvalidArgumentError("credential: chain longer than kMaxChainCertificates");
  }
  if (private_key.size() != X25519_PRIVATE_KEY_LEN) {
    return absl::InvalidArgumentError("credential: X25519 private key must be 32 bytes");
  }
  absl::StatusOr<ParsedCertificate> leaf = ParseCertificateUnverified(AsBytes(chain[0]));
  if (!leaf.ok()) return leaf.status();
  if (leaf->body.kind() != handshake::LEAF || leaf->body.public_key().size() != 32) {
    return absl::InvalidArgumentError("credential: first certificate is not an X25519 leaf");
  }
  std::shared_ptr<WorkloadCredential> credential(new WorkloadCredential());
  if (absl::Status s = IdentityFromWire(leaf->body.subject(), leaf->body.attributes(),
                                        &credential->identity_);
      !s.ok()) {
    return s;
  }
  std::memcpy(credential->public_key_.data(), leaf->body.public_key().data(), 32);
  std::memcpy(credential->private_key_.data(), private_key.data(), 32);
  if (check_key) {
    uint8_t derived[32];
    X25519_public_from_private(derived, credential->private_key_.data());
    if (CRYPTO_memcmp(derived, credential->public_key_.data(), 32) != 0) {
      return absl::InvalidArgumentError(
          "credential: private key does not match the leaf certificate");
    }
  }
  credential->not_after_ = absl::FromUnixSeconds(leaf->body.not_after());
  credential->chain_ = std::move(chain);
  return std::shared_ptr<const WorkloadCredential>(std::move(credential));
}

}  // namespace alts
