#ifndef ALTS_ALTS_AEAD_CONTEXT_CACHE_H_
#define ALTS_ALTS_AEAD_CONTEXT_CACHE_H_

#include <cstddef>
#include <cstdint>

#include <openssl/aead.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace alts {

// AeadContextCache is a small per-thread cache of initialised AES-128-GCM
// EVP_AEAD_CTX objects, keyed by the 16-byte key itself.
//
// Why: an EVP_AEAD_CTX is ~600 bytes and takes ~110 ns to set up. A record
// protector keeps only its 16-byte AES keys and borrows a context here for the
// duration of a seal/open call, so an idle connection holds no AEAD context at
// all, while a busy connection (the same key on the same thread) finds its
// context already set up. Keys and expanded key schedules held here are wiped
// when they are evicted, on Flush(), and when the thread exits.
class AeadContextCache {
 public:
  // kSlots: enough for a few connections interleaving on one reactor thread.
  static constexpr size_t kSlots = 4;
  // kKeySize: contexts are AES-128-GCM only.
  static constexpr size_t kKeySize = 16;

  // Get returns a context initialised with `key` (16 bytes) for the calling
  // thread, valid until the next Get, Forget or Flush on this thread. A miss
  // evicts (and wipes) the least recently used slot. Returns
  // kInvalidArgument if `key` is not 16 bytes, kInternal if BoringSSL
  // refuses the key (it cannot for a 16-byte key), kFailedPrecondition if
  // called while the thread's cache is being torn down at thread exit.
  // Never allocates.
  static absl::StatusOr<const EVP_AEAD_CTX*> Get(absl::Span<const uint8_t> key);

  // Forget wipes and drops the calling thread's context for `key`, if any.
  // Owners of a key call it when the key dies; copies cached by other threads
  // are wiped when those threads evict them, flush or exit.
  static void Forget(absl::Span<const uint8_t> key);

  // Flush wipes and drops every context cached by the calling thread.
  static void Flush();

  // InitsForTesting returns how many contexts the calling thread has set up.
  static uint64_t InitsForTesting();

  // LiveContextsForTesting returns how many initialised contexts all threads
  // hold right now (tests use it to see that thread exit wipes a cache).
  static uint64_t LiveContextsForTesting();
};

}  // namespace alts

#endif  // ALTS_ALTS_AEAD_CONTEXT_CACHE_H_
