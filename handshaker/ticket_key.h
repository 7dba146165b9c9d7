#ifndef ALTS_HANDSHAKER_TICKET_KEY_H_
#define ALTS_HANDSHAKER_TICKET_KEY_H_

#include <openssl/aead.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace alts {

// kTicketKeyIdSize / kTicketKeySize: a ticket key is named by 8 random
// bytes and is an AES-256-GCM key.
inline constexpr size_t kTicketKeyIdSize = 8;
inline constexpr size_t kTicketKeySize = 32;

// TicketKey is one resumption-ticket key: its id, its AES-256-GCM context and
// when it was made. The context holds the expanded AES key schedule inline,
// and BoringSSL's EVP_AEAD_CTX_cleanup releases an AES-GCM context without
// wiping it, so the destructor wipes the whole object (OPENSSL_cleanse).
// Not copyable or movable (the context must not be duplicated).
class TicketKey {
 public:
  // Generate returns a key with a random secret and id made at `now`;
  // nullptr if randomness or the AEAD set-up failed.
  static std::unique_ptr<TicketKey> Generate(absl::Time now);

  TicketKey() { EVP_AEAD_CTX_zero(&ctx_); }
  ~TicketKey();
  TicketKey(const TicketKey&) = delete;
  TicketKey& operator=(const TicketKey&) = delete;

  // Init sets the key to `secret` (kTicketKeySize bytes) named `id`.
  // Returns kInvalidArgument for a bad size, kFailedPrecondition if already
  // set, kInternal if the AEAD set-up failed.
  absl::Status Init(absl::Span<const uint8_t> secret,
                    const std::array<uint8_t, kTicketKeyIdSize>& id, absl::Time created);

  // id / ctx / created describe the key (ctx is for EVP_AEAD_CTX_seal/open).
  const std::array<uint8_t, kTicketKeyIdSize>& id() const { return id_; }
  const EVP_AEAD_CTX* ctx() const { return &ctx_; }
  absl::Time created() const { return created_; }

 private:
  std::array<uint8_t, kTicketKeyIdSize> id_{};
  EVP_AEAD_CTX ctx_;
  absl::Time created_;
  bool initialized_ = false;
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_TICKET_KEY_H_
