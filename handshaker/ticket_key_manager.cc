#include "handshaker/ticket_key_manager.h"

#include <openssl/rand.h>

#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/string_view.h"
#include "handshaker/proto/alts_handshake.pb.h"

namespace alts {
namespace {

constexpr absl::string_view kTicketAad = "ALTS-ondemand ticket v1";
constexpr size_t kTicketNonceSize = 12;
constexpr size_t kTicketTagSize = 16;
constexpr size_t kTicketOverhead = kTicketKeyIdSize + kTicketNonceSize + kTicketTagSize;

void MakeAad(const uint8_t* key_id, uint8_t aad[kTicketAad.size() + kTicketKeyIdSize]) {
  std::memcpy(aad, kTicketAad.data(), kTicketAad.size());
  std::memcpy(aad + kTicketAad.size(), key_id, kTicketKeyIdSize);
}

}  // namespace

absl::StatusOr<std::shared_ptr<TicketKeyManager>> TicketKeyManager::Create(Options options) {
  if (options.ticket_lifetime <= absl::ZeroDuration() ||
      options.ticket_lifetime > options.rotation_period) {
    return absl::InvalidArgumentError("ticket lifetime must be in (0, rotation_period]");
  }
  if (options.clock == nullptr) options.clock = &SystemClock();
  std::shared_ptr<TicketKeyManager> manager(new TicketKeyManager(options));
  std::lock_guard<std::mutex> lock(manager->mu_);
  manager->current_ = TicketKey::Generate(options.clock->Now());
  if (manager->current_ == nullptr) return absl::InternalError("cannot create ticket key");
  return manager;
}

TicketKeyManager::~TicketKeyManager() = default;

void TicketKeyManager::RotateLocked(absl::Time now) {
  std::unique_ptr<TicketKey> fresh = TicketKey::Generate(now);
  if (fresh == nullptr) return;  // keep the old key rather than none
  // Distinct ids keep Open unambiguous; 2^-64 collisions are retried anyway.
  if (fresh->id() == current_->id()) fresh = TicketKey::Generate(now);
  if (fresh == nullptr) return;
  previous_ = std::move(current_);
  current_ = std::move(fresh);
}

void TicketKeyManager::Rotate() {
  std::lock_guard<std::mutex> lock(mu_);
  RotateLocked(options_.clock->Now());
}

absl::StatusOr<std::string> TicketKeyManager::Seal(const TicketContents& contents) {
  const absl::Time now = options_.clock->Now();
  std::shared_ptr<const TicketKey> key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - current_->created() >= options_.rotation_period) RotateLocked(now);
    key = current_;
  }
  handshake::TicketContents plain;
  plain.set_resumption_secret(contents.resumption_secret.data(),
                              contents.resumption_secret.size());
  plain.set_client_service_account(contents.client_identity.service_account);
  AttributesToWire(contents.client_identity.attributes, plain.mutable_client_attributes());
  plain.set_expiry_unix_seconds(absl::ToUnixSeconds(contents.expiry));
  plain.set_client_not_after_unix_seconds(absl::ToUnixSeconds(contents.client_not_after));
  plain.set_server_service_account(contents.server_identity.service_account);
  AttributesToWire(contents.server_identity.attributes, plain.mutable_server_attributes());
  plain.set_client_root_key_id(contents.client_root_key_id.data(),
                               contents.client_root_key_id.size());
  std::string plaintext = plain.SerializeAsString();
  WipeString(*plain.mutable_resumption_secret());
  if (plaintext.size() + kTicketOverhead > kMaxTicketSize) {
    WipeString(plaintext);
    return absl::InternalError("ticket would exceed kMaxTicketSize");
  }
  std::string ticket(kTicketOverhead + plaintext.size(), '\0');
  auto* out = reinterpret_cast<uint8_t*>(ticket.data());
  std::memcpy(out, key->id().data(), kTicketKeyIdSize);
  if (!RAND_bytes(out + kTicketKeyIdSize, kTicketNonceSize)) {
    WipeString(plaintext);
    return absl::InternalError("RAND_bytes failed");
  }
  uint8_t aad[kTicketAad.size() + kTicketKeyIdSize];
  MakeAad(key->id().data(), aad);
  size_t out_len = 0;
  const size_t prefix = kTicketKeyIdSize + kTicketNonceSize;
  const bool ok = EVP_AEAD_CTX_seal(
      key->ctx(), out + prefix, &out_len, ticket.size() - prefix, out + kTicketKeyIdSize,
      kTicketNonceSize, reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size(),
      aad, sizeof(aad));
  WipeString(plaintext);
  if (!ok) return absl::InternalError("ticket seal failed");
  return ticket;
}

absl::StatusOr<TicketContents> TicketKeyManager::Open(absl::Span<const uint8_t> ticket) {
  if (ticket.size() < kTicketOverhead || ticket.size() > kMaxTicketSize) {
    return absl::InvalidArgumentError("ticket has a bad size");
  }
  const absl::Time now = options_.clock->Now();
  std::shared_ptr<const TicketKey> key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - current_->created() >= options_.rotation_period) RotateLocked(now);
    if (std::memcmp(ticket.data(), current_->id().data(), kTicketKeyIdSize) == 0) {
      key = current_;
    } else if (previous_ != nullptr &&
               std::memcmp(ticket.data(), previous_->id().data(), kTicketKeyIdSize) == 0) {
      key = previous_;
    }
  }
  if (key == nullptr) return absl::NotFoundError("ticket key unknown or rotated out");
  uint8_t aad[kTicketAad.size() + kTicketKeyIdSize];
  MakeAad(key->id().data(), aad);
  const size_t prefix = kTicketKeyIdSize + kTicketNonceSize;
  std::string plaintext(ticket.size() - prefix, '\0');
  size_t plain_len = 0;
  if (!EVP_AEAD_CTX_open(key->ctx(), reinterpret_cast<uint8_t*>(plaintext.data()), &plain_len,
                         plaintext.size(), ticket.data() + kTicketKeyIdSize, kTicketNonceSize,
                         ticket.data() + prefix, ticket.size() - prefix, aad, sizeof(aad))) {
    return absl::DataLossError("ticket failed authentication");
  }
  plaintext.resize(plain_len);
  handshake::TicketContents plain;
  const bool parsed = plain.ParseFromString(plaintext);
  WipeString(plaintext);
  absl::Cleanup wipe = [&plain] { WipeString(*plain.mutable_resumption_secret()); };
  if (!parsed || plain.resumption_secret().size() != 32) {
    return absl::DataLossError("ticket contents malformed");
  }
  TicketContents out;
  out.expiry = absl::FromUnixSeconds(plain.expiry_unix_seconds());
  out.client_not_after = absl::FromUnixSeconds(plain.client_not_after_unix_seconds());
  if (now >= out.expiry) return absl::OutOfRangeError("ticket expired");
  if (absl::Status s = IdentityFromWire(plain.client_service_account(),
                                        plain.client_attributes(), &out.client_identity);
      !s.ok()) {
    return absl::DataLossError(s.message());
  }
  if (absl::Status s = IdentityFromWire(plain.server_service_account(),
                                        plain.server_attributes(), &out.server_identity);
      !s.ok()) {
    return absl::DataLossError(s.message());
  }
  if (plain.client_root_key_id().size() != kKeyIdSize) {
    return absl::DataLossError("ticket contents malformed: root key id");
  }
  std::memcpy(out.client_root_key_id.data(), plain.client_root_key_id().data(), kKeyIdSize);
  std::memcpy(out.resumption_secret.data(), plain.resumption_secret().data(), 32);
  return out;
}

}  // namespace alts
