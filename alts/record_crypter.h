#ifndef ALTS_ALTS_RECORD_CRYPTER_H_
#define ALTS_ALTS_RECORD_CRYPTER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <openssl/aead.h>

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
// wiped on destruction and in a moved-from crypter (which then reports
// kFailedPrecondition). Move-only. Errors are sticky: the first failure is
// returned by every later call. Not thread-safe.
class RecordCrypter {
 public:
  // kTagSize is the GCM tag written by Seal and checked by Open.
  static constexpr size_t kTagSize = 16;
  // kMaxKeySize is the largest key material a protocol uses (REKEY: 32-byte
  // kdf_key and 12-byte nonce_mask).
  static constexpr size_t kMaxKeySize = 44;

  // Create builds the crypter for frames sent by the server (`server_sent`)
  // or by the client. `key_data` must hold at least RecordKeySize(protocol)
  // bytes (extra bytes are ignored); kInvalidArgument otherwise.
  static absl::StatusOr<RecordCrypter> Create(RecordProtocol protocol,
                                              absl::Span<const uint8_t> key_data,
                                              bool server_sent);

  // A move transfers the key and counter and wipes `other`, which then
  // returns kFailedPrecondition from every call.
  RecordCrypter(RecordCrypter&& other) noexcept;
  RecordCrypter& operator=(RecordCrypter&& other) noexcept;
  RecordCrypter(const RecordCrypter&) = delete;
  RecordCrypter& operator=(const RecordCrypter&) = delete;
  ~RecordCrypter();

  // Seal encrypts `in` into `out` (same size; may be the same memory, not
  // partially overlapping) and writes the 16-byte tag, then advances the
  // counter. Returns kResourceExhausted (sticky) when the counter is used up
  // (the last counter value is used; the call after it fails),
  // kInvalidArgument (not sticky) for mismatched sizes.
  absl::Status Seal(absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                    absl::Span<uint8_t> tag);

  // Open authenticates and decrypts `in_out` in place against `tag`, then
  // advances the counter. A bad tag wipes `in_out` and returns kDataLoss;
  // the direction is then dead (sticky). kResourceExhausted (sticky) when
  // the counter is used up, kInvalidArgument (not sticky) for a bad tag size.
  absl::Status Open(absl::Span<uint8_t> in_out, absl::Span<const uint8_t> tag);

  // Open is the out-of-place form: it authenticates `in` against `tag` and
  // decrypts it into `out` (same size; the same memory or disjoint, never
  // partially overlapping: kInvalidArgument, not sticky). A bad tag wipes
  // `out` and returns kDataLoss (sticky); otherwise as the in-place Open.
  absl::Status Open(absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                    absl::Span<const uint8_t> tag);

  // PinAeadContext gives this crypter an AEAD context of its own (~600
  // bytes, allocated here once), used for every later Seal and Open instead
  // of one borrowed from the thread's AeadContextCache: the classic design,
  // for connections that are never idle or for comparing against it. A
  // REKEY crypter re-keys its context once per epoch. Idempotent. Returns
  // kFailedPrecondition on a moved-from crypter.
  absl::Status PinAeadContext();

  // aead_context_pinned reports whether PinAeadContext was called.
  bool aead_context_pinned() const { return pinned_ != nullptr; }

  // status returns OK or the sticky error.
  absl::Status status() const;

  // ok is status().ok() without building a Status (for the per-frame path).
  bool ok() const { return failure_.ok() && !counter_.exhausted(); }

  // CheckCapacity returns OK if `frames` more frames can be sealed or opened
  // before the counter runs out. Otherwise it returns kResourceExhausted and
  // the direction is dead (sticky): a sender checks before writing a
  // multi-frame message so it never writes part of one.
  absl::Status CheckCapacity(uint64_t frames);

  // Fail makes `status` (not OK) this direction's sticky error, unless it
  // already has one. The layer above uses it for errors it detects itself
  // (a malformed frame header, a truncated stream).
  void Fail(absl::Status status);

  // SealWithNonce is the stateless AEAD step of `protocol` with an explicit
  // pre-mask 12-byte `nonce` (what the counter would hold) and `aad`: for
  // REKEY it derives the key from nonce[2..7] and masks the nonce. It
  // encrypts `in` into `out` (same size, same memory or disjoint) and writes
  // the 16-byte tag. It derives the key on every call: for known-answer tests
  // and tools, not the data path. Returns kInvalidArgument for bad sizes.
  static absl::Status SealWithNonce(RecordProtocol protocol,
                                    absl::Span<const uint8_t> key_data,
                                    absl::Span<const uint8_t> nonce,
                                    absl::Span<const uint8_t> aad,
                                    absl::Span<const uint8_t> in,
                                    absl::Span<uint8_t> out,
                                    absl::Span<uint8_t> tag);

  // OpenWithNonce is the stateless inverse of SealWithNonce, in place.
  // Returns kDataLoss (and wipes `in_out`) if the tag does not verify,
  // kInvalidArgument for bad sizes.
  static absl::Status OpenWithNonce(RecordProtocol protocol,
                                    absl::Span<const uint8_t> key_data,
                                    absl::Span<const uint8_t> nonce,
                                    absl::Span<const uint8_t> aad,
                                    absl::Span<uint8_t> in_out,
                                    absl::Span<const uint8_t> tag);

  // counter_for_testing exposes the counter (tests start it near its end).
  NonceCounter& counter_for_testing() { return counter_; }

  // epoch_derivations_for_testing returns how many REKEY epoch keys this
  // crypter has derived (one per 2^16-frame epoch it touched).
  uint64_t epoch_derivations_for_testing() const { return epoch_derivations_; }

 private:
  // Private, infallible constructor; Create validates.
  RecordCrypter(RecordProtocol protocol, absl::Span<const uint8_t> key,
                bool server_sent);
  // Computes the GCM nonce for the current counter into `nonce` and returns
  // the AEAD key to use, deriving a new REKEY epoch key if the epoch changed.
  absl::Span<const uint8_t> PrepareNonceAndKey(std::array<uint8_t, 12>& nonce);
  // Wipes all key bytes and drops this thread's cached context for them
  // (or the pinned context).
  void Wipe();
  // Returns the context for `key`: the pinned one (re-keyed if `key`
  // changed) or one from the thread's cache.
  absl::StatusOr<const EVP_AEAD_CTX*> ContextFor(absl::Span<const uint8_t> key);

  // PinnedContext is a context owned by this crypter and the key it holds.
  struct PinnedContext;
  struct PinnedContextDeleter {
    void operator()(PinnedContext* p) const;
  };

  RecordProtocol protocol_;
  NonceCounter counter_;
  // kAes128Gcm: key_[0..16) is the AES key.
  // kAes128GcmRekey: key_[0..32) kdf_key, key_[32..44) nonce_mask.
  std::array<uint8_t, kMaxKeySize> key_{};
  // REKEY: the AEAD key of epoch `epoch_` (counter bytes 2..7).
  std::array<uint8_t, 16> epoch_key_{};
  uint64_t epoch_ = 0;
  uint64_t epoch_derivations_ = 0;
  bool epoch_valid_ = false;
  // False once the key was wiped or moved to another crypter.
  bool owns_key_ = true;
  // Set by PinAeadContext.
  std::unique_ptr<PinnedContext, PinnedContextDeleter> pinned_;
  // Sticky failure, kept whole so later calls return the first error's
  // message too; OK while the direction works.
  absl::Status failure_;
};

}  // namespace alts

#endif  // ALTS_ALTS_RECORD_CRYPTER_H_
