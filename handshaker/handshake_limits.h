#ifndef ALTS_HANDSHAKER_HANDSHAKE_LIMITS_H_
#define ALTS_HANDSHAKER_HANDSHAKE_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace alts {

// Every limit of the handshake layer, each with the reason for its value.
// docs/handshake.md section 8 lists them too.

// kMaxHandshakeMessageSize bounds one handshake message body: a maximal chain
// plus offers and a ticket fit; without it a peer could make us buffer
// without bound. Checked as soon as a message header is in.
inline constexpr size_t kMaxHandshakeMessageSize = 16 * 1024;
// kMaxCertificateSize bounds one certificate; a real one is ~200 bytes plus
// attributes.
inline constexpr size_t kMaxCertificateSize = 4 * 1024;
// kMaxCertificateChainSize bounds the chain bytes of one message.
inline constexpr size_t kMaxCertificateChainSize = 8 * 1024;
// kMaxChainCertificates: root -> intermediate -> intermediate -> leaf is the
// deepest chain a verifier can be configured to accept; it bounds signature
// checks per handshake. Longer chains are kResourceExhausted.
inline constexpr size_t kMaxChainCertificates = 3;
// kDefaultMaxIntermediates: root -> intermediate -> leaf is the deepest
// chain accepted unless a verifier is configured for two intermediates
// (VerifierOptions::max_intermediates); shallow chains limit what a
// compromised signer below the root can mint.
inline constexpr size_t kDefaultMaxIntermediates = 1;
// kMaxIdentityAttributes bounds attribute parsing and matching work.
inline constexpr size_t kMaxIdentityAttributes = 32;
// kMaxIdentityFieldSize bounds a service account, attribute key or value.
inline constexpr size_t kMaxIdentityFieldSize = 256;
// kMaxOfferedProtocols bounds the protocol lists a peer may offer, so
// negotiation work is bounded.
inline constexpr size_t kMaxOfferedProtocols = 16;
// kMaxProtocolNameSize: protocol names are short identifiers.
inline constexpr size_t kMaxProtocolNameSize = 64;
// kMaxTicketSize bounds a resumption ticket: a sealed identity, a secret and
// an expiry.
inline constexpr size_t kMaxTicketSize = 2 * 1024;
// kKeyDataSize is the key_data a handshake yields: at least the 44 bytes
// ALTSRP_GCM_AES128_REKEY needs (gRPC requires >= 44); two SHA-256 blocks.
inline constexpr size_t kKeyDataSize = 64;
// kRandomSize / kX25519KeySize / kMacSize: sizes fixed by the protocol.
inline constexpr size_t kRandomSize = 32;
inline constexpr size_t kX25519KeySize = 32;
inline constexpr size_t kMacSize = 32;
// kDefaultHandshakeDeadline: gRPC-Go's server-side handshake deadline; a
// stalled peer cannot hold a handshake slot longer than this.
inline constexpr absl::Duration kDefaultHandshakeDeadline = absl::Seconds(30);
// kDefaultMaxConcurrentHandshakes: gRPC's default per-process cap.
inline constexpr size_t kDefaultMaxConcurrentHandshakes = 100;
// kDefaultMaxQueuedHandshakes: handshakes beyond the cap are queued, not
// dropped, but a flood must not grow the queue without bound.
inline constexpr size_t kDefaultMaxQueuedHandshakes = 10000;
// kDefaultChainCacheCapacity: verified chains kept; peers reconnect with the
// same certificates, so this covers a large fleet of distinct peers.
inline constexpr size_t kDefaultChainCacheCapacity = 1024;
// kDefaultSessionCacheCapacity: client-side tickets kept, one per target.
inline constexpr size_t kDefaultSessionCacheCapacity = 1024;
// kDefaultTicketKeyRotationPeriod: how long a ticket key seals tickets; with
// random 96-bit GCM nonces one key must seal far fewer than 2^32 tickets.
inline constexpr absl::Duration kDefaultTicketKeyRotationPeriod = absl::Hours(1);
// kDefaultTicketLifetime: a ticket must not outlive the key that sealed it,
// which is kept for one more rotation period after it stops sealing.
inline constexpr absl::Duration kDefaultTicketLifetime = absl::Hours(1);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKE_LIMITS_H_
