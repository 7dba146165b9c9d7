#include "handshaker/ticket_key.h"

#include <openssl/mem.h>
#include <openssl/rand.h>

#include <type_traits>

#include "handshaker/secret_array.h"

namespace alts {
namespace {

// kTicketTagSize: the full 16-byte GCM tag.
constexpr size_t kTicketTagSize = 16;

}  // namespace

std::unique_ptr<TicketKey> TicketKey::Generate(absl::Time now) {
  SecretArray<kTicketKeySize> secret;
  std::array<uint8_t, kTicketKeyIdSize> id;
  if (!RAND_bytes(secret.data(), secret.size()) || !RAND_bytes(id.data(), id.size())) {
    return nullptr;
  }
  auto key = std::make_unique<TicketKey>();
  if (!key->Init(secret.span(), id, now).ok()) return nullptr;
  return key;
}

absl::Status TicketKey::Init(absl::Span<const uint8_t> secret,
                             const std::array<uint8_t, kTicketKeyIdSize>& id,
                             absl::Time created) {
  if (secret.size() != kTicketKeySize) return absl::InvalidArgumentError("ticket key size");
  if (initialized_) return absl::FailedPreconditionError("ticket key already set");
  if (!EVP_AEAD_CTX_init(&ctx_, EVP_aead_aes_256_gcm(), secret.data(), secret.size(),
                         kTicketTagSize, nullptr)) {
    return absl::InternalError("ticket key: AEAD set-up failed");
  }
  id_ = id;
  created_ = created;
  initialized_ = true;
  return absl::OkStatus();
}

TicketKey::~TicketKey() {
  static_assert(std::is_trivially_destructible_v<absl::Time>);
  EVP_AEAD_CTX_cleanup(&ctx_);
  // Every member is trivially destructible; wipe them all, the expanded key
  // schedule inside ctx_ above all.
  OPENSSL_cleanse(static_cast<void*>(this), sizeof(*this));
}

}  // namespace alts
