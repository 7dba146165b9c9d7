#ifndef ALTS_HANDSHAKER_CERTIFICATE_VERIFIER_H_
#define ALTS_HANDSHAKER_CERTIFICATE_VERIFIER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/certificate.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/identity.h"

namespace alts {

// TrustRoot is a trusted Ed25519 signing key with its name.
struct TrustRoot {
  std::string name;
  std::array<uint8_t, kEd25519PublicKeySize> public_key{};

  // FromSigningKey returns the public half of a root signing key.
  static TrustRoot FromSigningKey(const SigningKey& key);
};

// VerifiedChain is what a verified certificate chain establishes.
struct VerifiedChain {
  // The leaf's identity.
  Identity identity;
  // The leaf's X25519 static public key.
  std::array<uint8_t, 32> static_key{};
  // The chain is valid in [not_before, not_after): the intersection of every
  // certificate's window.
  absl::Time not_before;
  absl::Time not_after;
};

// CertificateChain is a chain as received: leaf first, each certificate's
// exact bytes.
using CertificateChain = absl::Span<const absl::Span<const uint8_t>>;

// CertificateVerifier verifies certificate chains against a set of trust
// roots (docs/handshake.md section 1.3) and caches verified chains, keyed by
// their exact bytes, in a bounded LRU. The validity window is checked
// against `now` on every call, cached or not. Thread-safe; share one per
// trust configuration.
class CertificateVerifier {
 public:
  // Create builds a verifier for `roots` (at least one, distinct key ids)
  // caching up to `cache_capacity` chains (0 disables the cache). Returns
  // kInvalidArgument for no roots or duplicate key ids.
  static absl::StatusOr<std::shared_ptr<CertificateVerifier>> Create(
      std::vector<TrustRoot> roots, size_t cache_capacity = kDefaultChainCacheCapacity);

  // Verify checks `chain` at time `now`. Errors: kInvalidArgument
  // (malformed), kResourceExhausted (too many / too large certificates),
  // kUnauthenticated (untrusted root, bad signature, issuer mismatch),
  // kOutOfRange (expired or not yet valid).
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> Verify(CertificateChain chain,
                                                              absl::Time now);

  // cache_hits / cache_misses count lookups (for tests and metrics).
  uint64_t cache_hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t cache_misses() const { return misses_.load(std::memory_order_relaxed); }
  // cache_size returns the number of cached chains.
  size_t cache_size() const;

 private:
  using Digest = std::array<uint8_t, 32>;
  struct Entry {
    Digest digest;
    std::string chain_bytes;  // exact bytes, each certificate length-prefixed
    std::shared_ptr<const VerifiedChain> verified;
  };

  CertificateVerifier(std::vector<TrustRoot> roots, size_t cache_capacity)
      : roots_(std::move(roots)), cache_capacity_(cache_capacity) {}

  absl::StatusOr<std::shared_ptr<const VerifiedChain>> VerifyUncached(CertificateChain chain,
                                                                      absl::Time now) const;
  const TrustRoot* FindRoot(absl::Span<const uint8_t> key_id) const;

  const std::vector<TrustRoot> roots_;
  const size_t cache_capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<Digest, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

// CheckValidity returns kOutOfRange unless not_before <= now < not_after.
absl::Status CheckValidity(absl::Time not_before, absl::Time not_after, absl::Time now);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_CERTIFICATE_VERIFIER_H_
