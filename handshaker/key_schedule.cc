#include "handshaker/key_schedule.h"

#include <openssl/curve25519.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>

#include <cstring>

namespace alts {
namespace {

constexpr absl::string_view kFullProtocolName = "ALTS-ondemand v1 full";
constexpr absl::string_view kResumeProtocolName = "ALTS-ondemand v1 resume";
constexpr absl::string_view kMixKeyInfo = "alts v1 ck";
constexpr absl::string_view kDeriveInfoPrefix = "alts v1 ";

}  // namespace

TranscriptHash Transcript::Hash() const {
  SHA256_CTX copy = ctx_;
  TranscriptHash out;
  SHA256_Final(out.data(), &copy);
  return out;
}

ChainingKey InitialChainingKey(bool resumed) {
  const absl::string_view name = resumed ? kResumeProtocolName : kFullProtocolName;
  ChainingKey ck;
  SHA256(reinterpret_cast<const uint8_t*>(name.data()), name.size(), ck.data());
  return ck;
}

absl::Status MixKey(ChainingKey& ck, absl::Span<const uint8_t> ikm, const TranscriptHash& th) {
  SecretArray<32> prk;
  size_t prk_len = 0;
  if (!HKDF_extract(prk.data(), &prk_len, EVP_sha256(), ikm.data(), ikm.size(), ck.data(),
                    ck.size()) ||
      prk_len != prk.size()) {
    ck.Wipe();
    return absl::InternalError("HKDF-Extract failed");
  }
  uint8_t info[kMixKeyInfo.size() + sizeof(TranscriptHash)];
  std::memcpy(info, kMixKeyInfo.data(), kMixKeyInfo.size());
  std::memcpy(info + kMixKeyInfo.size(), th.data(), th.size());
  if (!HKDF_expand(ck.data(), ck.size(), EVP_sha256(), prk.data(), prk_len, info,
                   sizeof(info))) {
    ck.Wipe();
    return absl::InternalError("HKDF-Expand failed");
  }
  return absl::OkStatus();
}

absl::Status Derive(const ChainingKey& ck, absl::string_view label, const TranscriptHash& th,
                    absl::Span<uint8_t> out) {
  if (label.size() > kMaxLabelSize) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InternalError("Derive: label over kMaxLabelSize");
  }
  uint8_t info[kDeriveInfoPrefix.size() + kMaxLabelSize + sizeof(TranscriptHash)];
  size_t n = 0;
  std::memcpy(info, kDeriveInfoPrefix.data(), kDeriveInfoPrefix.size());
  n += kDeriveInfoPrefix.size();
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  std::memcpy(info + n, th.data(), th.size());
  n += th.size();
  if (!HKDF_expand(out.data(), out.size(), EVP_sha256(), ck.data(), ck.size(), info, n)) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::InternalError("HKDF-Expand failed");
  }
  return absl::OkStatus();
}

absl::Status FinishedMac(const SecretArray<32>& finished_key, const TranscriptHash& th,
                         std::array<uint8_t, 32>& mac) {
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), finished_key.data(), finished_key.size(), th.data(), th.size(),
           mac.data(), &mac_len) == nullptr ||
      mac_len != mac.size()) {
    OPENSSL_cleanse(mac.data(), mac.size());
    return absl::InternalError("HMAC-SHA256 failed");
  }
  return absl::OkStatus();
}

absl::Status X25519Agree(const SecretArray<32>& private_key,
                         absl::Span<const uint8_t> peer_public,
                         SecretArray<32>& shared) {
  if (peer_public.size() != X25519_PUBLIC_VALUE_LEN) {
    return absl::InvalidArgumentError("X25519 public key must be 32 bytes");
  }
  if (!X25519(shared.data(), private_key.data(), peer_public.data())) {
    shared.Wipe();
    return absl::InvalidArgumentError("X25519 shared secret is all zeros (small-order point)");
  }
  return absl::OkStatus();
}

}  // namespace alts
