#ifndef ALTS_HANDSHAKER_TICKET_KEY_MANAGER_H_
#define ALTS_HANDSHAKER_TICKET_KEY_MANAGER_H_

#include <openssl/aead.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/certificate.h"
#include "handshaker/clock.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/identity.h"
#include "handshaker/secret_array.h"
#include "handshaker/ticket_key.h"

namespace alts {

// TicketContents is what a resumption ticket carries to the server that
// issued it (docs/handshake.md section 5).
struct TicketContents {
  SecretArray<32> resumption_secret;
  Identity client_identity;
  absl::Time expiry;
  // The client chain's expiry, so tickets issued on resumption never outlive it.
  absl::Time client_not_after;
  // The server that issued the ticket: only it resumes the session.
  Identity server_identity;
  // The root the client chain verified under: resumption ends with its trust.
  KeyId client_root_key_id{};
};

// TicketKeyManager seals and opens resumption tickets with AES-256-GCM under
// a server ticket key that rotates every `rotation_period`; the current and
// the previous key are kept, and each key's expanded schedule is wiped when
// it is rotated out and unused, or when the manager dies. Ticket bytes:
//   key_id (8) || nonce (12) || AES-256-GCM(key, nonce, TicketContents,
//                                           aad = kTicketAad || key_id)
// Thread-safe; one per server (or shared by servers that should accept each
// other's tickets within one process).
class TicketKeyManager {
 public:
  struct Options {
    absl::Duration rotation_period = kDefaultTicketKeyRotationPeriod;
    // How long an issued ticket is valid; at most rotation_period, so a
    // ticket never outlives the key that sealed it.
    absl::Duration ticket_lifetime = kDefaultTicketLifetime;
    // Borrowed; must outlive the manager. nullptr = SystemClock().
    const Clock* clock = nullptr;
  };

  // Create makes a manager with a fresh random key. Returns kInvalidArgument
  // if the lifetime is not in (0, rotation_period].
  static absl::StatusOr<std::shared_ptr<TicketKeyManager>> Create(Options options);
  ~TicketKeyManager();

  // Seal returns a ticket for `contents` under the current key (rotating
  // first if the period is over). kInternal on a crypto failure.
  absl::StatusOr<std::string> Seal(const TicketContents& contents);

  // Open returns the contents of `ticket`. Errors: kInvalidArgument (too
  // short or too long), kNotFound (key id unknown: rotated out or never
  // ours), kDataLoss (authentication failed: tampered), kOutOfRange (expired).
  absl::StatusOr<TicketContents> Open(absl::Span<const uint8_t> ticket);

  // Rotate makes a new current key now; the old current key becomes the
  // previous one and the old previous key is forgotten.
  void Rotate();

  // ticket_lifetime returns how long issued tickets are valid.
  absl::Duration ticket_lifetime() const { return options_.ticket_lifetime; }

 private:
  explicit TicketKeyManager(Options options) : options_(options) {}
  void RotateLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::mutex mu_;
  // Keys are shared so that Seal/Open run outside the lock while a rotation
  // may drop the manager's reference; a key's schedule is wiped when its
  // last user lets go (TicketKey).
  std::shared_ptr<const TicketKey> current_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const TicketKey> previous_ ABSL_GUARDED_BY(mu_);
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_TICKET_KEY_MANAGER_H_
