#ifndef ALTS_HANDSHAKER_KEY_SCHEDULE_H_
#define ALTS_HANDSHAKER_KEY_SCHEDULE_H_

#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "handshaker/secret_array.h"

namespace alts {

// The handshake key schedule of docs/handshake.md section 3: an HKDF-SHA256
// chain fed with the DH outputs (Noise MixKey style) and the transcript hash
// of the exact message bytes in every derivation.

// TranscriptHash is a SHA-256 digest of the messages so far.
using TranscriptHash = std::array<uint8_t, SHA256_DIGEST_LENGTH>;
// ChainingKey is the running HKDF chaining key.
using ChainingKey = SecretArray<32>;

// Transcript is the running SHA-256 over every handshake message's framed
// bytes, in order. Hash() does not end it.
class Transcript {
 public:
  Transcript() { SHA256_Init(&ctx_); }
  // Update appends one message's exact bytes.
  void Update(absl::Span<const uint8_t> message) {
    SHA256_Update(&ctx_, message.data(), message.size());
  }
  // Hash returns the digest of everything appended so far.
  TranscriptHash Hash() const;

 private:
  SHA256_CTX ctx_;
};

// kLabelResumption, kLabelServerFinished, kLabelClientFinished and
// kLabelKeyData are the Derive labels of docs/handshake.md section 3.
inline constexpr absl::string_view kLabelResumption = "resumption";
inline constexpr absl::string_view kLabelServerFinished = "s finished";
inline constexpr absl::string_view kLabelClientFinished = "c finished";
inline constexpr absl::string_view kLabelKeyData = "key data";

// InitialChainingKey returns ck0: SHA-256 of the protocol name of a full
// ("ALTS-ondemand v1 full") or resumed ("ALTS-ondemand v1 resume") handshake.
ChainingKey InitialChainingKey(bool resumed);

// kMaxLabelSize bounds a Derive label (the info buffer is on the stack).
inline constexpr size_t kMaxLabelSize = 32;

// MixKey replaces `ck` with HKDF-Expand(HKDF-Extract(ck, ikm), "alts v1 ck"
// || th, 32). Returns kInternal if the crypto library fails (then `ck` is
// wiped: a handshake must not go on with it).
absl::Status MixKey(ChainingKey& ck, absl::Span<const uint8_t> ikm, const TranscriptHash& th);

// Derive fills `out` with HKDF-Expand(ck, "alts v1 " || label || th, |out|).
// Returns kInternal for a label over kMaxLabelSize or an output HKDF cannot
// give (over 255 * 32 bytes) or a crypto library failure; `out` is wiped
// then.
absl::Status Derive(const ChainingKey& ck, absl::string_view label, const TranscriptHash& th,
                    absl::Span<uint8_t> out);

// FinishedMac writes HMAC-SHA256(finished_key, th) to `mac`. Returns
// kInternal if the crypto library fails.
absl::Status FinishedMac(const SecretArray<32>& finished_key, const TranscriptHash& th,
                         std::array<uint8_t, 32>& mac);

// X25519Agree writes DH(private_key, peer_public) into `shared`. Returns
// kInvalidArgument if the result is all zeros (a small-order peer point).
absl::Status X25519Agree(const SecretArray<32>& private_key,
                         absl::Span<const uint8_t> peer_public,
                         SecretArray<32>& shared);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_KEY_SCHEDULE_H_
