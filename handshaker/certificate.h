#ifndef ALTS_HANDSHAKER_CERTIFICATE_H_
#define ALTS_HANDSHAKER_CERTIFICATE_H_

#include <array>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/identity.h"
#include "handshaker/proto/alts_handshake.pb.h"
#include "handshaker/secret_array.h"

namespace alts {

// Certificates (docs/handshake.md section 1.2): a serialized
// alts.handshake.Certificate whose `tbs` is a serialized CertificateBody,
// signed with Ed25519 by the issuer over kCertificateSignatureContext || tbs.

// kCertificateVersion is the only CertificateBody version we issue and accept.
inline constexpr uint32_t kCertificateVersion = 1;
// kKeyIdSize: 8 bytes of SHA-256 pick a signer among a handful of roots and
// intermediates; the signature check, not the id, is what authenticates.
inline constexpr size_t kKeyIdSize = 8;
// kEd25519PublicKeySize / kEd25519SignatureSize: fixed by Ed25519.
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
// kCertificateSignatureContext separates certificate signatures from any
// other use of the same Ed25519 key; the trailing NUL is part of it.
inline constexpr absl::string_view kCertificateSignatureContext{
    "ALTS-ondemand certificate v1\0", 29};

// KeyId names a signing key: the first 8 bytes of SHA-256(public key).
using KeyId = std::array<uint8_t, kKeyIdSize>;

// ComputeKeyId returns the key id of a 32-byte Ed25519 public key.
KeyId ComputeKeyId(absl::Span<const uint8_t> ed25519_public_key);

// SigningKey is an Ed25519 key with a name: a trust root or an
// intermediate. The private key is wiped on destruction. Move-only.
class SigningKey {
 public:
  // Generate makes a fresh key named `name`. Returns kInvalidArgument for an
  // empty or over-long name.
  static absl::StatusOr<SigningKey> Generate(absl::string_view name);
  // FromSeed rebuilds a key from its 32-byte seed.
  static absl::StatusOr<SigningKey> FromSeed(absl::string_view name,
                                             absl::Span<const uint8_t> seed);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;

  // name is the signer name certificates it issues carry as `issuer`.
  const std::string& name() const { return name_; }
  // public_key is the 32-byte Ed25519 public key.
  absl::Span<const uint8_t> public_key() const { return absl::MakeConstSpan(public_key_); }
  // key_id names public_key() (ComputeKeyId).
  const KeyId& key_id() const { return key_id_; }
  // seed returns the 32-byte private seed (secret; for writing key files).
  absl::Span<const uint8_t> seed() const { return private_key_.span().first(32); }

  // Sign returns the Ed25519 signature of `message`.
  std::array<uint8_t, kEd25519SignatureSize> Sign(absl::Span<const uint8_t> message) const;

 private:
  SigningKey() = default;
  std::string name_;
  std::array<uint8_t, kEd25519PublicKeySize> public_key_{};
  KeyId key_id_{};
  SecretArray<64> private_key_;
};

// CertificateParams is what an issuer certifies.
struct CertificateParams {
  handshake::CertificateKind kind = handshake::LEAF;
  // X25519 public key for LEAF, Ed25519 public key for INTERMEDIATE.
  std::array<uint8_t, 32> public_key{};
  // Service account (LEAF) or signer name (INTERMEDIATE).
  std::string subject;
  std::map<std::string, std::string> attributes;
  absl::Time not_before;
  absl::Time not_after;
  uint64_t serial = 0;
  // INTERMEDIATE only: how many further intermediates may stand below it
  // (0: it signs leaves only). Verifiers also cap the chain depth
  // (VerifierOptions::max_intermediates).
  uint32_t max_path_length = 0;
};

// IsSmallOrderX25519Key returns true if `key` (32 bytes) lies in a small
// subgroup: a DH with it is all zeros whatever the private key.
bool IsSmallOrderX25519Key(absl::Span<const uint8_t> key);

// IssueCertificate builds and signs a certificate; returns the serialized
// Certificate. Returns kInvalidArgument for an empty subject, an empty or
// inverted validity window, fields over the identity limits, a path length
// in a LEAF or a small-order LEAF key.
absl::StatusOr<std::string> IssueCertificate(const SigningKey& issuer,
                                             const CertificateParams& params);

// ParsedCertificate is a certificate split into its signed body and wrapper.
struct ParsedCertificate {
  handshake::Certificate wrapper;
  handshake::CertificateBody body;
};

// ParseCertificateUnverified parses a certificate WITHOUT checking its
// signature: for printing and for a workload reading its own certificate.
// Returns kInvalidArgument if it does not parse.
absl::StatusOr<ParsedCertificate> ParseCertificateUnverified(
    absl::Span<const uint8_t> certificate);

// VerifyCertificateSignature checks `signature` over
// kCertificateSignatureContext || tbs with an Ed25519 public key.
bool VerifyCertificateSignature(absl::Span<const uint8_t> tbs,
                                absl::Span<const uint8_t> signature,
                                absl::Span<const uint8_t> ed25519_public_key);

// CertificateToText renders a certificate readably (no verification).
std::string CertificateToText(const ParsedCertificate& certificate);

// AsBytes views a string's bytes.
inline absl::Span<const uint8_t> AsBytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace alts

#endif  // ALTS_HANDSHAKER_CERTIFICATE_H_
