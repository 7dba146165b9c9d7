#include "handshaker/certificate.h"

#include <openssl/curve25519.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "handshaker/handshake_limits.h"

namespace alts {
namespace {

// kSignMessageStackSize: certificates up to this size are signed from a stack
// buffer; larger ones (up to kMaxCertificateSize) use the heap.
constexpr size_t kSignMessageStackSize = 1024;

template <typename F>
auto WithSignedMessage(absl::Span<const uint8_t> tbs, F f) {
  const size_t n = kCertificateSignatureContext.size() + tbs.size();
  uint8_t stack[kSignMessageStackSize];
  std::string heap;
  uint8_t* buf = stack;
  if (n > sizeof(stack)) {
    heap.resize(n);
    buf = reinterpret_cast<uint8_t*>(heap.data());
  }
  std::memcpy(buf, kCertificateSignatureContext.data(), kCertificateSignatureContext.size());
  if (!tbs.empty()) std::memcpy(buf + kCertificateSignatureContext.size(), tbs.data(), tbs.size());
  return f(absl::Span<const uint8_t>(buf, n));
}

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

}  // namespace

KeyId ComputeKeyId(absl::Span<const uint8_t> ed25519_public_key) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(ed25519_public_key.data(), ed25519_public_key.size(), digest);
  KeyId id;
  std::memcpy(id.data(), digest, id.size());
  return id;
}

bool IsSmallOrderX25519Key(absl::Span<const uint8_t> key) {
  if (key.size() != X25519_PUBLIC_VALUE_LEN) return false;
  // Clamping makes every scalar a multiple of the cofactor 8, so any point
  // of order dividing 8 maps to zero; X25519 reports that as failure.
  uint8_t scalar[X25519_PRIVATE_KEY_LEN];
  std::memset(scalar, 0x5a, sizeof(scalar));
  uint8_t out[X25519_SHARED_KEY_LEN];
  const bool zero = X25519(out, scalar, key.data()) == 0;
  OPENSSL_cleanse(out, sizeof(out));
  return zero;
}

absl::StatusOr<SigningKey> SigningKey::Generate(absl::string_view name) {
  SecretArray<32> seed;
  if (!RAND_bytes(seed.data(), seed.size())) return absl::InternalError("RAND_bytes failed");
  return FromSeed(name, seed.span());
}

absl::StatusOr<SigningKey> SigningKey::FromSeed(absl::string_view name,
                                                absl::Span<const uint8_t> seed) {
  if (name.empty() || name.size() > kMaxIdentityFieldSize) {
    return absl::InvalidArgumentError("signing key name must be 1..256 bytes");
  }
  if (seed.size() != 32) return absl::InvalidArgumentError("Ed25519 seed must be 32 bytes");
  SigningKey key;
  key.name_ = std::string(name);
  ED25519_keypair_from_seed(key.public_key_.data(), key.private_key_.data(), seed.data());
  key.key_id_ = ComputeKeyId(key.public_key_);
  return key;
}

std::array<uint8_t, kEd25519SignatureSize> SigningKey::Sign(
    absl::Span<const uint8_t> message) const {
  std::array<uint8_t, kEd25519SignatureSize> signature;
  ED25519_sign(signature.data(), message.data(), message.size(), private_key_.data());
  return signature;
}

absl::StatusOr<std::string> IssueCertificate(const SigningKey& issuer,
                                             const CertificateParams& params) {
  if (params.kind != handshake::LEAF && params.kind != handshake::INTERMEDIATE) {
    return absl::InvalidArgumentError("certificate kind must be LEAF or INTERMEDIATE");
  }
  if (params.not_before >= params.not_after) {
    return absl::InvalidArgumentError("certificate validity window is empty");
  }
  if (params.kind == handshake::LEAF && params.max_path_length != 0) {
    return absl::InvalidArgumentError("a LEAF has no path length");
  }
  if (params.kind == handshake::LEAF && IsSmallOrderX25519Key(params.public_key)) {
    return absl::InvalidArgumentError("small-order X25519 key");
  }
  handshake::CertificateBody body;
  body.set_version(kCertificateVersion);
  body.set_kind(params.kind);
  body.set_public_key(params.public_key.data(), params.public_key.size());
  body.set_subject(params.subject);
  AttributesToWire(params.attributes, body.mutable_attributes());
  body.set_not_before(absl::ToUnixSeconds(params.not_before));
  body.set_not_after(absl::ToUnixSeconds(params.not_after));
  body.set_issuer(issuer.name());
  body.set_issuer_key_id(issuer.key_id().data(), issuer.key_id().size());
  body.set_serial(params.serial);
  body.set_max_path_length(params.max_path_length);
  Identity check;
  if (absl::Status s = IdentityFromWire(body.subject(), body.attributes(), &check); !s.ok()) {
    return s;
  }
  handshake::Certificate certificate;
  if (!body.SerializeToString(certificate.mutable_tbs())) {
    return absl::InternalError("cannot serialize certificate body");
  }
  const auto signature = WithSignedMessage(
      AsBytes(certificate.tbs()),
      [&](absl::Span<const uint8_t> message) { return issuer.Sign(message); });
  certificate.set_signature(signature.data(), signature.size());
  certificate.set_issuer_key_id(issuer.key_id().data(), issuer.key_id().size());
  std::string out = certificate.SerializeAsString();
  if (out.size() > kMaxCertificateSize) {
    return absl::InvalidArgumentError("certificate exceeds kMaxCertificateSize");
  }
  return out;
}

absl::StatusOr<ParsedCertificate> ParseCertificateUnverified(
    absl::Span<const uint8_t> certificate) {
  ParsedCertificate out;
  if (!out.wrapper.ParseFromArray(certificate.data(), static_cast<int>(certificate.size()))) {
    return absl::InvalidArgumentError("certificate does not parse");
  }
  if (!out.body.ParseFromString(out.wrapper.tbs())) {
    return absl::InvalidArgumentError("certificate body does not parse");
  }
  return out;
}

bool VerifyCertificateSignature(absl::Span<const uint8_t> tbs,
                                absl::Span<const uint8_t> signature,
                                absl::Span<const uint8_t> ed25519_public_key) {
  if (signature.size() != kEd25519SignatureSize ||
      ed25519_public_key.size() != kEd25519PublicKeySize || tbs.size() > kMaxCertificateSize) {
    return false;
  }
  return WithSignedMessage(tbs, [&](absl::Span<const uint8_t> message) {
    return ED25519_verify(message.data(), message.size(), signature.data(),
                          ed25519_public_key.data()) == 1;
  });
}

std::string CertificateToText(const ParsedCertificate& certificate) {
  const handshake::CertificateBody& b = certificate.body;
  std::string out;
  absl::StrAppend(&out, "version:        ", b.version(), "\n");
  absl::StrAppend(&out, "kind:           ",
                  b.kind() == handshake::LEAF           ? "LEAF (X25519 static key)"
                  : b.kind() == handshake::INTERMEDIATE ? "INTERMEDIATE (Ed25519 signer)"
                                                        : "UNKNOWN",
                  "\n");
  absl::StrAppend(&out, "subject:        ", absl::CHexEscape(b.subject()), "\n");
  for (const handshake::Attribute& a : b.attributes()) {
    absl::StrAppend(&out, "attribute:      ", absl::CHexEscape(a.key()), "=",
                    absl::CHexEscape(a.value()), "\n");
  }
  absl::StrAppend(&out, "public key:     ", absl::BytesToHexString(b.public_key()), "\n");
  absl::StrAppend(&out, "not before:     ", FormatTime(b.not_before()), "\n");
  absl::StrAppend(&out, "not after:      ", FormatTime(b.not_after()), "\n");
  absl::StrAppend(&out, "issuer:         ", absl::CHexEscape(b.issuer()), "\n");
  absl::StrAppend(&out, "issuer key id:  ", absl::BytesToHexString(b.issuer_key_id()), "\n");
  absl::StrAppend(&out, "serial:         ", b.serial(), "\n");
  absl::StrAppend(&out, "signature:      ",
                  absl::BytesToHexString(certificate.wrapper.signature()), "\n");
  return out;
}

}  // namespace alts
