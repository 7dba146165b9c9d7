#ifndef ALTS_TOOLS_ALTS_ECHO_ECHO_COMMON_H_
#define ALTS_TOOLS_ALTS_ECHO_ECHO_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handshaker/handshaker.h"
#include "handshaker/peer_identity.h"
#include "tools/alts_echo/echo_flags.h"

namespace alts {

// kExitOk, kExitFailure, kExitUsage are alts_echo's exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// kFdHeadroom: descriptors a process needs besides its connections (stdio,
// the reactors' wakeup pipes and event fds, the listening socket).
inline constexpr uint64_t kFdHeadroom = 64;

// LoadHandshakerConfig reads the credential and trust roots named by
// `flags` (files written by alts_keygen) and builds the handshake config;
// --allow becomes the accepted client identities. Errors keep their code and
// name the flag and file that failed.
absl::StatusOr<std::shared_ptr<HandshakerConfig>> LoadHandshakerConfig(const EchoFlags& flags);

// FormatPeerIdentity returns "SERVICE_ACCOUNT key=value ..." (attributes in
// key order) for `peer`.
std::string FormatPeerIdentity(const PeerIdentity& peer);

// RaiseOpenFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// returns kResourceExhausted, saying how to fix it, if that still allows
// fewer than `needed` descriptors.
absl::Status RaiseOpenFileLimit(uint64_t needed);

// PrintLine writes `line` and a newline to stdout and flushes, as one unit
// with respect to other PrintLine calls (reactor threads print
// concurrently).
void PrintLine(absl::string_view line);

// PrintError writes "alts_echo: " `message` and a newline to stderr.
void PrintError(absl::string_view message);

}  // namespace alts

#endif  // ALTS_TOOLS_ALTS_ECHO_ECHO_COMMON_H_
