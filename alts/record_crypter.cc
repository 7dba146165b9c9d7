#include "alts/record_crypter.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <openssl/aead.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/aead_context_cache.h"
#include "alts/nonce_counter.h"
#include "alts/record_protocol.h"

namespace alts {
namespace {

constexpr size_t kNonceSize = NonceCounter::kSize;
constexpr size_t kAeadKeySize = AeadContextCache::kKeySize;
// REKEY key material layout (spec section 4).
constexpr size_t kKdfKeySize = 32;
constexpr size_t kNonceMaskOffset = kKdfKeySize;
// REKEY KDF input: counter bytes [2, 8) followed by 0x01.
constexpr size_t kKdfCounterOffset = 2;
constexpr size_t kKdfCounterSize = 6;
constexpr uint8_t kKdfSuffix = 0x01;

using Nonce = std::array<uint8_t, kNonceSize>;

static_assert(RecordCrypter::kMaxKeySize == kKdfKeySize + kNonceSize);

bool PartiallyOverlap(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b) {
  if (a.empty() || b.empty() || a.data() == b.data()) return false;
  return a.data() < b.data() + b.size() && b.data() < a.data() + a.size();
}

// HmacSha256Kdf computes first-16-bytes-of HMAC-SHA256(kdf_key, counter[2..7]
// || 0x01) into `out`. Written over SHA256_CTX rather than HMAC() because
// HMAC() sets up an EVP_MD_CTX, which allocates; this runs on the frame path
// once per epoch and must not.
void HmacSha256Kdf(absl::Span<const uint8_t> kdf_key, absl::Span<const uint8_t> counter,
                   uint8_t out[kAeadKeySize]) {
  uint8_t pad[SHA256_CBLOCK];
  uint8_t inner[SHA256_DIGEST_LENGTH];
  uint8_t outer[SHA256_DIGEST_LENGTH];
  uint8_t message[kKdfCounterSize + 1];
  for (size_t i = 0; i < kKdfCounterSize; ++i) message[i] = counter[kKdfCounterOffset + i];
  message[kKdfCounterSize] = kKdfSuffix;

  SHA256_CTX sha;
  // The 32-byte key is shorter than the block, so it is zero-padded as is.
  for (size_t i = 0; i < SHA256_CBLOCK; ++i) {
    pad[i] = (i < kKdfKeySize ? kdf_key[i] : 0) ^ 0x36;
  }
  SHA256_Init(&sha);
  SHA256_Update(&sha, pad, sizeof(pad));
  SHA256_Update(&sha, message, sizeof(message));
  SHA256_Final(inner, &sha);
  for (size_t i = 0; i < SHA256_CBLOCK; ++i) {
    pad[i] = (i < kKdfKeySize ? kdf_key[i] : 0) ^ 0x5C;
  }
  SHA256_Init(&sha);
  SHA256_Update(&sha, pad, sizeof(pad));
  SHA256_Update(&sha, inner, sizeof(inner));
  SHA256_Final(outer, &sha);
  for (size_t i = 0; i < kAeadKeySize; ++i) out[i] = outer[i];

  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  OPENSSL_cleanse(outer, sizeof(outer));
  OPENSSL_cleanse(&sha, sizeof(sha));
}

void MaskNonce(absl::Span<const uint8_t> counter, absl::Span<const uint8_t> mask, Nonce& nonce) {
  for (size_t i = 0; i < kNonceSize; ++i) nonce[i] = counter[i] ^ mask[i];
}

absl::Status SealCore(const EVP_AEAD_CTX* ctx, const Nonce& nonce,
                      absl::Span<const uint8_t> aad, absl::Span<const uint8_t> in,
                      absl::Span<uint8_t> out, absl::Span<uint8_t> tag) {
  size_t tag_len = 0;
  if (!EVP_AEAD_CTX_seal_scatter(ctx, out.data(), tag.data(), &tag_len, tag.size(),
                                 nonce.data(), nonce.size(), in.data(), in.size(),
                                 /*extra_in=*/nullptr, /*extra_in_len=*/0, aad.data(),
                                 aad.size()) ||
      tag_len != RecordCrypter::kTagSize) {
    ERR_clear_error();
    return absl::InternalError("AES-GCM seal failed");
  }
  return absl::OkStatus();
}

// OpenCore decrypts `in` into `out` (same size; equal or disjoint) and
// returns true if the tag verified; on false `out` is wiped.
bool OpenCore(const EVP_AEAD_CTX* ctx, const Nonce& nonce, absl::Span<const uint8_t> aad,
              absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
              absl::Span<const uint8_t> tag) {
  if (!EVP_AEAD_CTX_open_gather(ctx, out.data(), nonce.data(), nonce.size(), in.data(),
                                in.size(), tag.data(), tag.size(), aad.data(), aad.size())) {
    ERR_clear_error();
    // BoringSSL zeroes the output on failure; wipe regardless, since
    // unauthenticated plaintext must never reach the caller.
    OPENSSL_cleanse(out.data(), out.size());
    return false;
  }
  return true;
}

absl::Status DataLoss() {
  return absl::DataLossError("frame failed authentication (altered, replayed, reordered or "
                             "reflected); the receive direction is closed");
}

absl::Status Exhausted() {
  return absl::ResourceExhaustedError(
      "frame counter exhausted: the connection must close rather than reuse a nonce");
}

// ExplicitNonceInputs checks sizes for SealWithNonce / OpenWithNonce and
// derives the AEAD key and GCM nonce for `protocol`.
absl::Status ExplicitNonceInputs(RecordProtocol protocol, absl::Span<const uint8_t> key_data,
                                 absl::Span<const uint8_t> nonce, size_t tag_size,
                                 uint8_t key[kAeadKeySize], Nonce& gcm_nonce) {
  const size_t key_size = RecordKeySize(protocol);
  if (key_size == 0) return absl::InvalidArgumentError("unknown record protocol");
  if (key_data.size() < key_size) {
    return absl::InvalidArgumentError("key_data shorter than the protocol's key");
  }
  if (nonce.size() != kNonceSize) return absl::InvalidArgumentError("nonce must be 12 bytes");
  if (tag_size != RecordCrypter::kTagSize) {
    return absl::InvalidArgumentError("tag must be 16 bytes");
  }
  if (protocol == RecordProtocol::kAes128Gcm) {
    for (size_t i = 0; i < kAeadKeySize; ++i) key[i] = key_data[i];
    for (size_t i = 0; i < kNonceSize; ++i) gcm_nonce[i] = nonce[i];
  } else {
    HmacSha256Kdf(key_data.first(kKdfKeySize), nonce, key);
    MaskNonce(nonce, key_data.subspan(kNonceMaskOffset, kNonceSize), gcm_nonce);
  }
  return absl::OkStatus();
}

}  // namespace

// PinnedContext holds an initialised context (valid) for `key`. Zeroed
// memory is a valid empty one (EVP_AEAD_CTX_cleanup is a no-op on it).
struct RecordCrypter::PinnedContext {
  EVP_AEAD_CTX ctx;
  uint8_t key[kAeadKeySize];
  bool valid;
};

void RecordCrypter::PinnedContextDeleter::operator()(PinnedContext* p) const {
  if (p->valid) EVP_AEAD_CTX_cleanup(&p->ctx);
  // The context holds the expanded AES key schedule and GHASH key.
  OPENSSL_cleanse(p, sizeof(*p));
  delete p;
}

absl::Status RecordCrypter::PinAeadContext() {
  if (!owns_key_) return absl::FailedPreconditionError("record crypter was moved from");
  if (pinned_ != nullptr) return absl::OkStatus();
  pinned_.reset(new PinnedContext{});
  // The cache's copy for this thread is no longer needed.
  if (protocol_ == RecordProtocol::kAes128Gcm) {
    AeadContextCache::Forget(absl::MakeConstSpan(key_).first(kAeadKeySize));
  } else if (epoch_valid_) {
    AeadContextCache::Forget(epoch_key_);
  }
  return absl::OkStatus();
}

absl::StatusOr<const EVP_AEAD_CTX*> RecordCrypter::ContextFor(absl::Span<const uint8_t> key) {
  if (pinned_ == nullptr) return AeadContextCache::Get(key);
  PinnedContext& p = *pinned_;
  if (p.valid && CRYPTO_memcmp(p.key, key.data(), kAeadKeySize) == 0) return &p.ctx;
  if (p.valid) EVP_AEAD_CTX_cleanup(&p.ctx);
  p.valid = false;
  if (!EVP_AEAD_CTX_init(&p.ctx, EVP_aead_aes_128_gcm(), key.data(), key.size(),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
    ERR_clear_error();
    OPENSSL_cleanse(&p, sizeof(p));
    return absl::InternalError("EVP_AEAD_CTX_init refused an AES-128-GCM key");
  }
  for (size_t i = 0; i < kAeadKeySize; ++i) p.key[i] = key[i];
  p.valid = true;
  return &p.ctx;
}

absl::StatusOr<RecordCrypter> RecordCrypter::Create(RecordProtocol protocol,
                                                    absl::Span<const uint8_t> key_data,
                                                    bool server_sent) {
  const size_t key_size = RecordKeySize(protocol);
  if (key_size == 0) return absl::InvalidArgumentError("unknown record protocol");
  if (key_data.size() < key_size) {
    return absl::InvalidArgumentError("key_data is " + std::to_string(key_data.size()) +
                                      " bytes; " + std::string(RecordProtocolName(protocol)) +
                                      " needs " + std::to_string(key_size));
  }
  return RecordCrypter(protocol, key_data.first(key_size), server_sent);
}

RecordCrypter::RecordCrypter(RecordProtocol protocol, absl::Span<const uint8_t> key,
                             bool server_sent)
    : protocol_(protocol), counter_(CounterOverflowSize(protocol), server_sent) {
  for (size_t i = 0; i < key.size(); ++i) key_[i] = key[i];
}

RecordCrypter::RecordCrypter(RecordCrypter&& other) noexcept
    : protocol_(other.protocol_),
      counter_(other.counter_),
      key_(other.key_),
      epoch_key_(other.epoch_key_),
      epoch_(other.epoch_),
      epoch_derivations_(other.epoch_derivations_),
      epoch_valid_(other.epoch_valid_),
      owns_key_(other.owns_key_),
      pinned_(std::move(other.pinned_)),
      failure_(std::move(other.failure_)) {
  // The moved-from crypter keeps no key and refuses to work; this thread's
  // cached context now belongs to the new owner, so it is not forgotten.
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
  OPENSSL_cleanse(other.epoch_key_.data(), other.epoch_key_.size());
  other.epoch_valid_ = false;
  other.owns_key_ = false;
  other.failure_ = absl::FailedPreconditionError("record crypter was moved from");
}

RecordCrypter& RecordCrypter::operator=(RecordCrypter&& other) noexcept {
  if (this == &other) return *this;
  Wipe();
  protocol_ = other.protocol_;
  counter_ = other.counter_;
  key_ = other.key_;
  epoch_key_ = other.epoch_key_;
  epoch_ = other.epoch_;
  epoch_derivations_ = other.epoch_derivations_;
  epoch_valid_ = other.epoch_valid_;
  owns_key_ = other.owns_key_;
  pinned_ = std::move(other.pinned_);
  failure_ = std::move(other.failure_);
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
  OPENSSL_cleanse(other.epoch_key_.data(), other.epoch_key_.size());
  other.epoch_valid_ = false;
  other.owns_key_ = false;
  other.failure_ = absl::FailedPreconditionError("record crypter was moved from");
  return *this;
}

RecordCrypter::~RecordCrypter() { Wipe(); }

void RecordCrypter::Wipe() {
  // A moved-from crypter holds no key (and its old key now belongs to another
  // crypter), so only a crypter that still owns its key forgets it.
  pinned_.reset();
  if (owns_key_) {
    if (protocol_ == RecordProtocol::kAes128Gcm) {
      AeadContextCache::Forget(absl::MakeConstSpan(key_).first(kAeadKeySize));
    } else if (epoch_valid_) {
      AeadContextCache::Forget(epoch_key_);
    }
  }
  OPENSSL_cleanse(key_.data(), key_.size());
  OPENSSL_cleanse(epoch_key_.data(), epoch_key_.size());
  epoch_valid_ = false;
  owns_key_ = false;
}

absl::Status RecordCrypter::status() const {
  if (!failure_.ok()) return failure_;
  if (counter_.exhausted()) return Exhausted();
  return absl::OkStatus();
}

void RecordCrypter::Fail(absl::Status status) {
  if (status.ok() || !failure_.ok()) return;
  failure_ = std::move(status);
}

absl::Status RecordCrypter::CheckCapacity(uint64_t frames) {
  if (!failure_.ok()) return failure_;
  if (!counter_.HasValues(frames)) failure_ = Exhausted();
  return failure_;
}

absl::Span<const uint8_t> RecordCrypter::PrepareNonceAndKey(Nonce& nonce) {
  const std::array<uint8_t, kNonceSize>& counter = counter_.value();
  if (protocol_ == RecordProtocol::kAes128Gcm) {
    nonce = counter;
    return absl::MakeConstSpan(key_).first(kAeadKeySize);
  }
  uint64_t epoch = 0;
  for (size_t i = kKdfCounterSize; i-- > 0;) epoch = (epoch << 8) | counter[kKdfCounterOffset + i];
  if (!epoch_valid_ || epoch != epoch_) {
    // The old epoch's key is no longer needed by this direction.
    if (epoch_valid_ && pinned_ == nullptr) AeadContextCache::Forget(epoch_key_);
    HmacSha256Kdf(absl::MakeConstSpan(key_).first(kKdfKeySize), counter, epoch_key_.data());
    epoch_ = epoch;
    epoch_valid_ = true;
    ++epoch_derivations_;
  }
  MaskNonce(counter, absl::MakeConstSpan(key_).subspan(kNonceMaskOffset, kNonceSize), nonce);
  return epoch_key_;
}

absl::Status RecordCrypter::Seal(absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                                 absl::Span<uint8_t> tag) {
  if (!failure_.ok()) return failure_;
  if (counter_.exhausted()) return failure_ = Exhausted();
  if (in.size() != out.size() || tag.size() != kTagSize || PartiallyOverlap(in, out) ||
      PartiallyOverlap(in, tag) || PartiallyOverlap(out, tag)) {
    return absl::InvalidArgumentError("seal: output must match input size, tag 16 bytes");
  }
  Nonce nonce;
  absl::StatusOr<const EVP_AEAD_CTX*> ctx = ContextFor(PrepareNonceAndKey(nonce));
  absl::Status status = ctx.ok() ? SealCore(*ctx, nonce, {}, in, out, tag) : ctx.status();
  OPENSSL_cleanse(nonce.data(), nonce.size());
  if (!status.ok()) {
    failure_ = status;
    return status;
  }
  // The frame is sealed under a fresh nonce either way; if that was the
  // last value, the next call fails.
  if (!counter_.Increment().ok()) failure_ = Exhausted();
  return absl::OkStatus();
}

absl::Status RecordCrypter::Open(absl::Span<uint8_t> in_out, absl::Span<const uint8_t> tag) {
  return Open(in_out, in_out, tag);
}

absl::Status RecordCrypter::Open(absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                                 absl::Span<const uint8_t> tag) {
  if (!failure_.ok()) return failure_;
  if (counter_.exhausted()) return failure_ = Exhausted();
  if (tag.size() != kTagSize || in.size() != out.size() || PartiallyOverlap(in, out) ||
      PartiallyOverlap(in, tag) || PartiallyOverlap(out, tag)) {
    return absl::InvalidArgumentError(
        "open: tag must be 16 bytes, apart from the ciphertext; output as large as the "
        "ciphertext, the same memory or apart");
  }
  Nonce nonce;
  absl::StatusOr<const EVP_AEAD_CTX*> ctx = ContextFor(PrepareNonceAndKey(nonce));
  const bool verified = ctx.ok() && OpenCore(*ctx, nonce, {}, in, out, tag);
  OPENSSL_cleanse(nonce.data(), nonce.size());
  if (!ctx.ok()) {
    failure_ = ctx.status();
    return failure_;
  }
  if (!verified) {
    failure_ = DataLoss();
    return failure_;
  }
  if (!counter_.Increment().ok()) failure_ = Exhausted();
  return absl::OkStatus();
}

absl::Status RecordCrypter::SealWithNonce(RecordProtocol protocol,
                                          absl::Span<const uint8_t> key_data,
                                          absl::Span<const uint8_t> nonce,
                                          absl::Span<const uint8_t> aad,
                                          absl::Span<const uint8_t> in, absl::Span<uint8_t> out,
                                          absl::Span<uint8_t> tag) {
  if (in.size() != out.size() || PartiallyOverlap(in, out)) {
    return absl::InvalidArgumentError("seal: output must match input size");
  }
  uint8_t key[kAeadKeySize];
  Nonce gcm_nonce;
  absl::Status status = ExplicitNonceInputs(protocol, key_data, nonce, tag.size(), key, gcm_nonce);
  if (status.ok()) {
    absl::StatusOr<const EVP_AEAD_CTX*> ctx = AeadContextCache::Get(absl::MakeConstSpan(key));
    status = ctx.ok() ? SealCore(*ctx, gcm_nonce, aad, in, out, tag) : ctx.status();
    AeadContextCache::Forget(absl::MakeConstSpan(key));
  }
  OPENSSL_cleanse(key, sizeof(key));
  return status;
}

absl::Status RecordCrypter::OpenWithNonce(RecordProtocol protocol,
                                          absl::Span<const uint8_t> key_data,
                                          absl::Span<const uint8_t> nonce,
                                          absl::Span<const uint8_t> aad,
                                          absl::Span<uint8_t> in_out,
                                          absl::Span<const uint8_t> tag) {
  uint8_t key[kAeadKeySize];
  Nonce gcm_nonce;
  absl::Status status = ExplicitNonceInputs(protocol, key_data, nonce, tag.size(), key, gcm_nonce);
  if (status.ok()) {
    absl::StatusOr<const EVP_AEAD_CTX*> ctx = AeadContextCache::Get(absl::MakeConstSpan(key));
    if (!ctx.ok()) {
      status = ctx.status();
    } else if (!OpenCore(*ctx, gcm_nonce, aad, in_out, in_out, tag)) {
      status = absl::DataLossError("AEAD tag did not verify");
    }
    AeadContextCache::Forget(absl::MakeConstSpan(key));
  }
  OPENSSL_cleanse(key, sizeof(key));
  return status;
}

}  // namespace alts
