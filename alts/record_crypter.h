#ifndef ALTS_ALTS_RECORD_CRYPTER_H_
#define ALTS_ALTS_RECORD_CRYPTER_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/nonce_counter.h"
#include "alts/record_protocol.h"

namespace alts {

// RecordCrypter seals or opens frame bodies for ONE direction of a
// connection: it owns that direction's nonce counter and key material.
//
//   ALTSRP_GCM_AES128:        body = AES-128-GCM(key, nonce = counter, pt)
//   ALTSRP_GCM_AES128_REKEY:  aead_key = HMAC-SHA256(kdf_key, C[2..7] || 0x01)[:16]
//                             nonce = C XOR nonce_mask
//
// The REKEY AEAD key is derived once per 2^16-frame epoch and kept (16
// bytes); the ~600-byte EVP_AEAD_CTX is borrowed per call from the thread's
// AeadContextCache, so an idle crypter holds ~100 bytes. All key bytes are
// wiped on destruction. Move-only. Errors are sticky: the first failure is
// returned by every later call.
class RecordCrypter {
 public:
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kMaxKeySize = 44;

  // Create builds the crypter for frames sent by the server (`server_sent`)
  // or by the client. `key_data` must hold at least RecordKeySize(protocol)
  // bytes (extra bytes are ignored); kInvalidArgument otherwise.
  static absl::StatusOr<RecordCrypter> Create(RecordProtocol protocol,
                                              absl::Span<const uint8_t> key_data,
                                              bool server_sent);

  RecordCrypter(RecordCrypter&& other) noexcept;
  RecordCrypter& operator=(RecordCrypter&& other) noexcept;
  RecordCrypter(const RecordCrypter&) = delete;
  RecordCrypter& operator=(const RecordCrypter&) = delete;
  ~RecordCrypter();

  // Seal encrypts `in` into `out` (same size; may be the same memory, not
  // partially overlapping) and writes the 16-byte tag, then advances the
  // counter. Returns kResourceExhausted (sticky) when the counter is used up.
  absl::Status Seal(absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                    absl::Span<uint8_t> tag);

  // Open authenticates and decrypts `in_out` in place against `tag`, then
  // advances the counter. A bad tag wipes `in_out` and returns kDataLoss;
  // the direction is then dead (sticky).
  absl::Status Open(absl::Span<uint8_t> in_out, absl::Span<const uint8_t> tag);

  // status returns OK or the sticky error.
  absl::Status status() const;

  NonceCounter& counter_for_testing() { return counter_; }

 private:
  // Private, infallible constructor; Create validates.
  RecordCrypter(RecordProtocol protocol, absl::Span<const uint8_t> key,
                bool server_sent);
  // Computes the AEAD key and nonce for the current counter into the given
  // outputs, deriving a new REKEY epoch key if the epoch changed.
  void PrepareNonceAndKey(std::array<uint8_t, 12>& nonce);
  void Wipe();

  RecordProtocol protocol_;
  NonceCounter counter_;
  // kAes128Gcm: key_[0..16) is the AES key.
  // kAes128GcmRekey: key_[0..32) kdf_key, key_[32..44) nonce_mask.
  std::array<uint8_t, kMaxKeySize> key_{};
  // REKEY: the AEAD key of epoch `epoch_` (counter bytes 2..7).
  std::array<uint8_t, 16> epoch_key_{};
  uint64_t epoch_ = 0;
  bool epoch_valid_ = false;
  // Sticky failure: 0 = OK, else an absl::StatusCode.
  uint8_t failed_code_ = 0;
};

}  // namespace alts

#endif  // ALTS_ALTS_RECORD_CRYPTER_H_
