#include "alts/aead_context_cache.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <openssl/aead.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/mem.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace alts {
namespace {

// Slot is one cached context. Zero-initialised memory is a valid empty slot
// (EVP_AEAD_CTX_cleanup is a no-op on an all-zero context).
struct Slot {
  uint8_t key[AeadContextCache::kKeySize];
  EVP_AEAD_CTX ctx;
  uint64_t last_use;
  bool valid;
};

// live_contexts counts initialised slots over all threads (a test hook; it
// changes only on a cache miss or a wipe, never on a hit).
std::atomic<uint64_t> live_contexts{0};

void WipeSlot(Slot& slot) {
  if (slot.valid) {
    EVP_AEAD_CTX_cleanup(&slot.ctx);
    live_contexts.fetch_sub(1, std::memory_order_relaxed);
  }
  // The context holds the expanded AES key schedule and GHASH key.
  OPENSSL_cleanse(&slot, sizeof(slot));
}

// ThreadCache is the per-thread state. Its destructor runs at thread exit
// and wipes every slot, so no key schedule outlives its thread.
class ThreadCache {
 public:
  ThreadCache() = default;
  ThreadCache(const ThreadCache&) = delete;
  ThreadCache& operator=(const ThreadCache&) = delete;
  ~ThreadCache();

  absl::StatusOr<const EVP_AEAD_CTX*> Get(absl::Span<const uint8_t> key);
  void Forget(absl::Span<const uint8_t> key);
  void Flush() {
    for (Slot& slot : slots_) WipeSlot(slot);
  }
  uint64_t inits() const { return inits_; }

 private:
  Slot slots_[AeadContextCache::kSlots] = {};
  uint64_t clock_ = 0;
  uint64_t inits_ = 0;
};

// tls_cache_destroyed is set once this thread's ThreadCache has been
// destroyed. It is trivially destructible, so it stays readable during the
// rest of thread exit (another thread_local's destructor may still seal).
thread_local bool tls_cache_destroyed = false;
thread_local ThreadCache tls_cache;

ThreadCache::~ThreadCache() {
  Flush();
  tls_cache_destroyed = true;
}

bool SameKey(const Slot& slot, absl::Span<const uint8_t> key) {
  // Constant time: the comparison must not leak key bytes through timing.
  return slot.valid && CRYPTO_memcmp(slot.key, key.data(), AeadContextCache::kKeySize) == 0;
}

absl::StatusOr<const EVP_AEAD_CTX*> ThreadCache::Get(absl::Span<const uint8_t> key) {
  ++clock_;
  Slot* victim = &slots_[0];
  for (Slot& slot : slots_) {
    if (SameKey(slot, key)) {
      slot.last_use = clock_;
      return &slot.ctx;
    }
    // Prefer an empty slot, else the least recently used one.
    if (victim->valid && (!slot.valid || slot.last_use < victim->last_use)) victim = &slot;
  }
  WipeSlot(*victim);
  if (!EVP_AEAD_CTX_init(&victim->ctx, EVP_aead_aes_128_gcm(), key.data(), key.size(),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
    ERR_clear_error();
    OPENSSL_cleanse(victim, sizeof(*victim));
    return absl::InternalError("EVP_AEAD_CTX_init refused an AES-128-GCM key");
  }
  for (size_t i = 0; i < AeadContextCache::kKeySize; ++i) victim->key[i] = key[i];
  victim->valid = true;
  victim->last_use = clock_;
  ++inits_;
  live_contexts.fetch_add(1, std::memory_order_relaxed);
  return &victim->ctx;
}

void ThreadCache::Forget(absl::Span<const uint8_t> key) {
  for (Slot& slot : slots_) {
    if (SameKey(slot, key)) WipeSlot(slot);
  }
}

}  // namespace

absl::StatusOr<const EVP_AEAD_CTX*> AeadContextCache::Get(absl::Span<const uint8_t> key) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError("AES-128-GCM key must be 16 bytes");
  }
  if (tls_cache_destroyed) {
    return absl::FailedPreconditionError("AEAD context cache used during thread exit");
  }
  return tls_cache.Get(key);
}

void AeadContextCache::Forget(absl::Span<const uint8_t> key) {
  if (key.size() != kKeySize || tls_cache_destroyed) return;
  tls_cache.Forget(key);
}

void AeadContextCache::Flush() {
  if (tls_cache_destroyed) return;
  tls_cache.Flush();
}

uint64_t AeadContextCache::InitsForTesting() {
  if (tls_cache_destroyed) return 0;
  return tls_cache.inits();
}

uint64_t AeadContextCache::LiveContextsForTesting() {
  return live_contexts.load(std::memory_order_relaxed);
}

}  // namespace alts
