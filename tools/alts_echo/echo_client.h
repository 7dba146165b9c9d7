#ifndef ALTS_TOOLS_ALTS_ECHO_ECHO_CLIENT_H_
#define ALTS_TOOLS_ALTS_ECHO_ECHO_CLIENT_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tools/alts_echo/echo_flags.h"

namespace alts {

// kMaxDialsInFlight: connections being dialed or exchanging at once. It
// keeps the handshake queue (kDefaultMaxQueuedHandshakes) and the server's
// accept backlog far from full however large --conns is.
inline constexpr uint64_t kMaxDialsInFlight = 1000;
// kStallTimeout: a run in which no connection makes progress for this long
// is stuck (the handshake deadline is 30 s); it fails instead of hanging.
inline constexpr absl::Duration kStallTimeout = absl::Seconds(60);
// kEchoChunkSize: bytes generated or checked at once, on the reactor
// thread's stack: large enough for few calls, small enough for any stack.
inline constexpr size_t kEchoChunkSize = 16 * 1024;
// kMaxReportedFailures: failures printed one by one; the rest are counted.
inline constexpr size_t kMaxReportedFailures = 5;

// FillEchoPattern writes the bytes at [offset, offset + out.size()) of the
// pseudo-random stream numbered `seed`. Each byte depends on its position,
// so lost, repeated or reordered bytes are detected, and distinct seeds
// (one per connection) tell connections apart.
void FillEchoPattern(uint64_t seed, uint64_t offset, absl::Span<uint8_t> out);

// RunEchoClient is `alts_echo --connect`: it runs the connections of
// `flags`, prints the server's identity and the figures, and returns the
// process exit status (1 if any connection failed or any pool buffer was
// held by an idle connection).
int RunEchoClient(const EchoFlags& flags);

}  // namespace alts

#endif  // ALTS_TOOLS_ALTS_ECHO_ECHO_CLIENT_H_
