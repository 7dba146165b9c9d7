#ifndef ALTS_TESTS_STRESS_STRESS_TEST_UTIL_H_
#define ALTS_TESTS_STRESS_STRESS_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "conn/secure_connection.h"
#include "tests/stress/fault_injection.h"
#include "conn/reactor.h"

namespace alts::testing {

// kSanitizerBuild is true under ASan/UBSan/TSan, where every byte costs
// about ten times more: loops scale their seed counts down.
#ifdef ALTS_SANITIZER_BUILD
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// Scaled returns `n` in a normal build and half of it (at least 1) under
// sanitizers.
constexpr int Scaled(int n) { return kSanitizerBuild ? (n + 1) / 2 : n; }

// StressScale returns ALTS_STRESS_SCALE (a positive integer; 1 if unset or
// invalid): the long version of the fault matrices runs that many times
// more seeds per case (e.g. ALTS_STRESS_SCALE=50 for a soak).
int StressScale();

// StressSeed returns the i-th seed of a case whose seeds start at `base`:
// the first `per_case` are base + i (the ones CI runs, stable across runs);
// the extra seeds of a scaled run come from a range no other case uses.
inline uint64_t StressSeed(uint64_t base, int i, int per_case) {
  return i < per_case ? base + static_cast<uint64_t>(i)
                      : (base << 24) + static_cast<uint64_t>(i);
}

// StressSeeds returns the seeds a case whose seeds start at `base` runs:
// per_case * StressScale() of them (StressSeed), or only ALTS_STRESS_SEED
// when it is set (none when it is not one of them: the case skips).
std::vector<uint64_t> StressSeeds(uint64_t base, int per_case);

// FormatCounts renders counts by name, e.g. " OK=3 UNAVAILABLE=5", for the
// summary lines.
std::string FormatCounts(const std::map<std::string, int>& counts);

// CountOpenFds returns how many descriptors the process has open (entries
// of /proc/self/fd, not counting the one used to list them).
int CountOpenFds();

// RaiseFdLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
size_t RaiseFdLimit();

// RandomBytes returns `n` bytes from a generator seeded with `seed`.
std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed);

// RecordCut says where a cut at `offset` falls in a stream of ALTS frames
// (4-byte little-endian length, then that many bytes).
enum class CutPosition { kAtFrameBoundary, kInsideFrame };
CutPosition RecordCut(absl::string_view records, size_t offset);

// DeliverablePlaintext returns the plaintext of the complete ALTS frames in
// the first `offset` bytes of `records` (each frame's length field minus
// its type field and tag): what a reader that received those bytes and
// then the end of the stream must have delivered.
size_t DeliverablePlaintext(absl::string_view records, size_t offset);

// CutLoss counts what a cut connection lost: bytes a sender had handed to
// Write (accepted, or in the Write that failed) that the other end never
// delivered, in both directions.
struct CutLoss {
  // lost: handed to Write but never delivered (both directions).
  int64_t lost = 0;
  // lost_after_arrival: of the cut side's bytes, those in complete frames
  // that went out before the cut yet were never delivered (possible only
  // when the peer met a reset rather than the end of the stream).
  int64_t lost_after_arrival = 0;
  // runs: cut runs counted.
  int runs = 0;

  // ToString returns e.g. "123456 B handed to Write and never delivered in
  // 40 cut runs, 0 B of it after reaching the peer".
  std::string ToString() const;
};

// HandshakePrefix returns the bytes taken by the first `messages` handshake
// messages (type byte, 3-byte big-endian length, body) of `stream`, or
// npos if they are not all complete in it.
size_t HandshakePrefix(absl::string_view stream, int messages);

// FullHandshakeBytes returns the bytes each side sent in a full handshake
// without resumption (two messages each, Init and Finished), from the
// captured `records` of a clean run (the client's socket first, the
// server's second): {client, server}, npos for a side whose messages are
// not complete in its record, or both when there are not two records.
std::pair<size_t, size_t> FullHandshakeBytes(const std::vector<FdRecord>& records);

// FaultScenario is one row of the fault matrix the stress tests run.
enum class FaultScenario {
  kShortReads,
  kShortWrites,
  kEintrStorms,
  kEagainStorms,
  kStalls,
  kMixed,      // every fault above at once
  kReset,      // one side aborts (RST) after N bytes
  kHalfClose,  // one side's write direction ends (FIN) after N bytes
};

// kAllScenarios lists every FaultScenario, for parameterized tests.
inline constexpr FaultScenario kAllScenarios[] = {
    FaultScenario::kShortReads, FaultScenario::kShortWrites, FaultScenario::kEintrStorms,
    FaultScenario::kEagainStorms, FaultScenario::kStalls, FaultScenario::kMixed,
    FaultScenario::kReset, FaultScenario::kHalfClose};

// ScenarioName returns e.g. "ShortReads".
const char* ScenarioName(FaultScenario scenario);

// IsCut returns true for the scenarios that end a connection early (reset,
// half-close); the others must leave every byte intact.
bool IsCut(FaultScenario scenario);

// ScenarioFaults returns the FdFaults of a non-cut scenario for one
// endpoint, varied by `seed` (probabilities, storm lengths, stall times).
FdFaults ScenarioFaults(FaultScenario scenario, uint64_t seed);

// CheckCutPeerEnd checks how the peer of a cut socket may end (and
// CheckCutDelivery what it delivered). `status` is
// the peer's end; `reset` says RST (else FIN after the half-close); `tcp`
// says loopback TCP (else a Unix socketpair); `position` is where the cut
// fell in the records the cut side sent. Allowed:
//  - kUnavailable (ECONNRESET or EPIPE): the cut side closes for good once
//    its next write fails, and a close with unread data is abortive, so
//    the peer may meet a broken connection whichever way it turns;
//  - after a FIN (or a Unix-socket reset, which a reader may see as EOF):
//    kDataLoss when the cut is inside a frame, OK at a frame boundary.
// A TCP reset reaches the reader as ECONNRESET, never as an EOF: only
// kUnavailable. Returns an empty string if allowed, else what is wrong.
std::string CheckCutPeerEnd(const absl::Status& status, bool reset, bool tcp,
                            CutPosition position);

// CheckCutDelivery checks what the peer of a cut socket delivered: never
// more than the complete frames that went out before the cut
// (`deliverable`, DeliverablePlaintext), and exactly those when it read to
// the end of the stream (it ended OK or kDataLoss: a FIN, or a Unix
// socket's EOF). Returns an empty string if so, else what is wrong.
std::string CheckCutDelivery(const absl::Status& peer_end, size_t delivered, size_t deliverable);

// Sender writes `message` over a connection in chunks of random size (from
// `seed`), honouring back-pressure (OnWritable), and checks that every byte
// coming back is the echo of the byte sent at that position. Once the whole
// echo is in it closes gracefully. `done` runs once, after OnEnd.
class Sender : public ReadyHandler {
 public:
  Sender(SecureConnection* conn, std::vector<uint8_t> message, uint64_t seed,
         std::function<void()> done);

  // Begin starts writing; call on the connection's thread after Start.
  void Begin();

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override;
  void OnWritable() override;
  void OnEnd(const absl::Status& status) override;

  // ended returns true once OnEnd has run; status returns what it reported.
  bool ended() const { return ended_; }
  const absl::Status& status() const { return status_; }
  // echoed returns the bytes that came back; sent the bytes Write accepted;
  // handed those plus the bytes of a Write that failed (the connection may
  // have sent part of them first).
  size_t echoed() const { return echoed_; }
  size_t sent() const { return sent_; }
  size_t handed() const { return sent_ + in_failed_write_; }
  // corrupted returns true if a byte came back that differs from the byte
  // sent at its position (or more bytes came back than were sent).
  bool corrupted() const { return corrupted_; }
  // message returns what this sender sends.
  const std::vector<uint8_t>& message() const { return message_; }

 private:
  void Pump();

  SecureConnection* conn_;
  std::vector<uint8_t> message_;
  std::mt19937_64 rng_;
  std::function<void()> done_;
  size_t sent_ = 0;
  size_t in_failed_write_ = 0;
  size_t echoed_ = 0;
  bool corrupted_ = false;
  bool closing_ = false;
  bool ended_ = false;
  absl::Status status_;
};

// Echo writes back everything it receives and checks it against
// `expected` (the sender's message: what arrives must be a prefix of it).
// At the peer's EOF it flushes what it holds and closes. `done` runs once,
// after OnEnd.
class Echo : public ReadyHandler {
 public:
  Echo(SecureConnection* conn, const std::vector<uint8_t>* expected, std::function<void()> done);

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override;
  void OnWritable() override;
  void OnEnd(const absl::Status& status) override;

  // ended returns true once OnEnd has run; status returns what it reported.
  bool ended() const { return ended_; }
  const absl::Status& status() const { return status_; }
  // received returns the bytes delivered so far; sent the bytes of the echo
  // that Write accepted.
  size_t received() const { return received_; }
  size_t sent() const { return sent_; }
  // handed returns sent() plus the bytes of a Write that failed (the
  // connection may have sent part of them first).
  size_t handed() const { return sent_ + in_failed_write_; }
  // corrupted returns true if a delivered byte differs from `expected`.
  bool corrupted() const { return corrupted_; }

 private:
  void Push();

  SecureConnection* conn_;
  const std::vector<uint8_t>* expected_;
  std::function<void()> done_;
  std::vector<uint8_t> pending_;
  size_t received_ = 0;
  size_t sent_ = 0;
  size_t in_failed_write_ = 0;
  bool corrupted_ = false;
  bool eof_ = false;
  bool ended_ = false;
  absl::Status status_;
};

// KeptConnections holds established connections (and their handlers) that
// outcome callbacks on any reactor thread of a group hand over, and
// destroys each on its own reactor thread.
class KeptConnections {
 public:
  // Keep stores `conn` (living on `reactor`) and its handler. Thread-safe.
  void Keep(Reactor& reactor, std::unique_ptr<SecureConnection> conn,
            std::unique_ptr<ReadyHandler> handler);

  // DestroyOn destroys every kept connection on its reactor thread, then
  // the handlers. Call from outside the group's threads.
  absl::Status DestroyOn(ReactorGroup& group);

 private:
  struct Kept {
    Reactor* reactor;
    std::unique_ptr<SecureConnection> conn;
    std::unique_ptr<ReadyHandler> handler;
  };
  std::mutex mu_;
  std::vector<Kept> kept_;
};

}  // namespace alts::testing

#endif  // ALTS_TESTS_STRESS_STRESS_TEST_UTIL_H_
