#include "benchmarks/common/bench_pki.h"

#include <openssl/curve25519.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "handshaker/secret_array.h"

namespace alts::bench {

absl::StatusOr<BenchPki> BenchPki::Create() {
  absl::StatusOr<SigningKey> root = SigningKey::Generate("bench-root");
  if (!root.ok()) return root.status();
  return BenchPki(std::move(*root));
}

absl::StatusOr<std::shared_ptr<const WorkloadCredential>> BenchPki::Credential(
    absl::string_view service_account, absl::Duration valid_for) const {
  SecretArray<32> private_key;
  std::array<uint8_t, 32> public_key;
  X25519_keypair(public_key.data(), private_key.data());
  CertificateParams params;
  params.kind = handshake::LEAF;
  params.public_key = public_key;
  params.subject = std::string(service_account);
  const absl::Time now = absl::Now();
  params.not_before = now - absl::Hours(1);
  params.not_after = now + valid_for;
  params.serial = 1;
  absl::StatusOr<std::string> leaf = IssueCertificate(root_, params);
  if (!leaf.ok()) return leaf.status();
  return WorkloadCredential::Create({std::move(*leaf)}, private_key.span());
}

absl::StatusOr<std::shared_ptr<HandshakerConfig>> BenchPki::Config(
    absl::string_view service_account, absl::Duration valid_for) const {
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
      Credential(service_account, valid_for);
  if (!credential.ok()) return credential.status();
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create({TrustRoot::FromSigningKey(root_)});
  if (!verifier.ok()) return verifier.status();
  auto config = std::make_shared<HandshakerConfig>();
  config->credential = std::move(*credential);
  config->verifier = std::move(*verifier);
  return config;
}

}  // namespace alts::bench
