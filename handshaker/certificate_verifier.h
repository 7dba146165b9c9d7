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
  // The key id of the trust root the chain verified under (resumption
  // tickets carry it, so a removed root ends resumption too).
  KeyId root_key_id{};
};

// VerifierOptions shape a CertificateVerifier.
struct VerifierOptions {
  // Verified chains cached (0 disables the cache).
  size_t cache_capacity = kDefaultChainCacheCapacity;
  // Intermediates a chain may have: 1 (root -> intermediate -> leaf) by
  // default, at most kMaxChainCertificates - 1. Each intermediate must also
  // allow the intermediates below it (CertificateBody.max_path_length).
  size_t max_intermediates = kDefaultMaxIntermediates;
};

// CertificateChain is a chain as received: leaf first, each certificate's
// exact bytes.
using CertificateChain = absl::Span<const absl::Span<const uint8_t>>;

// CertificateVerifier verifies certificate chains against a set of trust
// roots (docs/handshake.md section 1.3) and caches verified chains, keyed by
// their exact bytes (certificates are accepted only in their canonical
// encoding, so equal certificates have equal bytes). The cache is a
// segmented LRU: a chain enters on probation and is protected once it is
// used again, and new chains evict only probationary ones, so a storm of
// one-off chains cannot flush the peers that keep reconnecting. The
// validity window is checked against `now` on every call, cached or not.
// Thread-safe; share one per trust configuration.
class CertificateVerifier {
 public:
  // Create builds a verifier for `roots` (at least one, distinct key ids)
  // caching up to `cache_capacity` chains (0 disables the cache). Returns
  // kInvalidArgument for no roots or duplicate key ids.
  static absl::StatusOr<std::shared_ptr<CertificateVerifier>> Create(
      std::vector<TrustRoot> roots, size_t cache_capacity = kDefaultChainCacheCapacity);
  // Create with options; also kInvalidArgument for max_intermediates above
  // kMaxChainCertificates - 1.
  static absl::StatusOr<std::shared_ptr<CertificateVerifier>> Create(std::vector<TrustRoot> roots,
                                                                      VerifierOptions options);

  // Verify checks `chain` at time `now`. Errors: kInvalidArgument
  // (malformed or non-canonical, wrong kind, small-order leaf key),
  // kResourceExhausted (too many / too large certificates),
  // kUnauthenticated (untrusted root, bad signature, issuer name or key id
  // mismatch, more intermediates than allowed, path length exceeded),
  // kOutOfRange (expired or not yet valid).
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> Verify(CertificateChain chain,
                                                              absl::Time now);

  // TrustsRoot returns true if `key_id` names one of this verifier's roots.
  bool TrustsRoot(const KeyId& key_id) const;

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
    bool is_protected = false;
  };
  using EntryList = std::list<Entry>;

  CertificateVerifier(std::vector<TrustRoot> roots, VerifierOptions options);
  // Touch records a hit on `it` (promotes a probationary entry).
  void Touch(EntryList::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Insert(const Digest& digest, CertificateChain chain,
              std::shared_ptr<const VerifiedChain> verified) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::shared_ptr<const VerifiedChain>> VerifyUncached(CertificateChain chain,
                                                                      absl::Time now) const;
  const TrustRoot* FindRoot(absl::Span<const uint8_t> key_id) const;

  const std::vector<TrustRoot> roots_;
  const std::vector<KeyId> root_ids_;
  const size_t cache_capacity_;
  // At most this many entries are protected; the rest of the capacity is
  // the probationary segment new chains enter (and are evicted from).
  const size_t protected_capacity_;
  const size_t max_intermediates_;
  mutable std::mutex mu_;
  EntryList probation_ ABSL_GUARDED_BY(mu_);  // most recently used first
  EntryList protected_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<Digest, EntryList::iterator> index_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

// ParseCertificateWrapper parses the unsigned outer Certificate and accepts
// only its canonical encoding: tbs, signature and issuer_key_id, in that
// order, each once, with minimal lengths and nothing else. Returns
// kInvalidArgument otherwise (re-encodings would otherwise defeat the
// verified-chain cache, which is keyed by exact bytes).
absl::Status ParseCertificateWrapper(absl::Span<const uint8_t> bytes,
                                     handshake::Certificate* out);

// CheckValidity returns kOutOfRange unless not_before <= now < not_after.
absl::Status CheckValidity(absl::Time not_before, absl::Time not_after, absl::Time now);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_CERTIFICATE_VERIFIER_H_
