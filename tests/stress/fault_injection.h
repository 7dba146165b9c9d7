#ifndef ALTS_TESTS_STRESS_FAULT_INJECTION_H_
#define ALTS_TESTS_STRESS_FAULT_INJECTION_H_

// Deterministic socket fault injection for tests.
//
// Linking fault_injection.cc into a test executable interposes the libc
// socket calls the conn layer makes (recv, send, sendmsg, read, write,
// accept4, connect, shutdown, close): the executable's definitions win over
// libc's, also for calls from shared libraries, and forward to the real ones
// (the sanitizer interceptor when one exists, else dlsym(RTLD_NEXT)). Calls
// on sockets no FaultPlan has enrolled pass straight through.
//
// A FaultPlan enrolls sockets, each with its FdFaults, and draws every
// decision (inject or not, where to cut) from a PRNG stream of its own,
// seeded from the plan's seed and the socket's enrollment ordinal. The
// decisions for one socket are therefore a pure function of (seed, ordinal,
// the sequence of calls made on it): a seed that fails fails the same way
// when the traffic is the same.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace alts::testing {

// Fault names the kinds of fault the shim injects.
enum class Fault {
  kShortRead,   // a read returns fewer bytes than asked for (and available)
  kShortWrite,  // a write takes fewer bytes than offered
  kEintr,       // a call fails with EINTR (in storms of consecutive calls)
  kEagain,      // a call on a non-blocking socket fails with EAGAIN spuriously
  kReset,       // the socket is aborted (RST) after N bytes written
  kHalfClose,   // the write side is shut (FIN) after N bytes written
  kStall,       // written bytes are held back for a while, then sent in order
  kAcceptEintr,   // accept4 fails with EINTR
  kAcceptEagain,  // accept4 fails with EAGAIN although a connection waits
};

// kFaultKinds is the number of Fault values.
inline constexpr size_t kFaultKinds = 9;

// FaultName returns a short name for `fault`, for reports.
const char* FaultName(Fault fault);

// kDefaultMaxStorm: consecutive EINTR/EAGAIN failures in one storm. Enough
// to exercise retry loops and level-triggered re-polling without turning a
// test into a busy loop.
inline constexpr uint32_t kDefaultMaxStorm = 16;

// kMaxDelayedBytes bounds the bytes a stalled socket holds back; beyond it
// writes fail with EAGAIN (the socket looks full), so a writer that ignores
// back-pressure cannot make a test use unbounded memory.
inline constexpr size_t kMaxDelayedBytes = 8 * 1024 * 1024;

// FdFaults is what the shim does to one socket. Probabilities are per call,
// in [0, 1]. A default FdFaults injects nothing (the socket is only counted).
struct FdFaults {
  // short_read: a read asks the kernel for a random length in [1, asked).
  double short_read = 0;
  // short_write: a write offers the kernel a random prefix in [1, offered).
  double short_write = 0;
  // eintr: a call starts an EINTR storm of 1..max_storm failures.
  double eintr = 0;
  // eagain: a call on a non-blocking socket starts a storm of spurious
  // EAGAIN failures (the socket stays ready, so level-triggered polling
  // reports it again and the retry succeeds).
  double eagain = 0;
  uint32_t max_storm = kDefaultMaxStorm;
  // reset_after: once this many bytes have been written, the socket is
  // aborted (SO_LINGER 0, then its file is closed under the fd, which stays
  // valid as a dead placeholder until the owner closes it): the peer sees
  // ECONNRESET on TCP; the call that reached the limit and every later one
  // fail with ECONNRESET. -1: never.
  int64_t reset_after = -1;
  // half_close_after: once this many bytes have been written, the write side
  // is shut down (the peer reads EOF); later writes fail with EPIPE, reads
  // go on. -1: never.
  int64_t half_close_after = -1;
  // stall: a write starts a stall: it and every write after it are held back
  // (in order) until stall_for has passed, then sent by the shim's flusher
  // thread. A close or shutdown during a stall takes effect after the held
  // bytes went out, as the kernel's would. Not combined with reset_after or
  // half_close_after (those count bytes written straight through).
  double stall = 0;
  absl::Duration stall_for = absl::Milliseconds(10);
  // capture: keep a copy of every byte written (FdRecord::written), e.g. to
  // find the frame boundaries around a cut.
  bool capture = false;
};

// FdRecord is what happened on one enrolled socket.
struct FdRecord {
  uint64_t ordinal = 0;  // enrollment order, from 0
  int fd = -1;
  int64_t bytes_written = 0;  // handed to the kernel (or to a stall queue)
  int64_t bytes_read = 0;
  bool reset = false;        // reset_after fired
  bool half_closed = false;  // half_close_after fired
  bool closed = false;       // the owner closed it
  std::array<uint64_t, kFaultKinds> injected{};
  std::string written;  // with FdFaults::capture
};

// FaultCounts counts injected faults per kind.
struct FaultCounts {
  std::array<uint64_t, kFaultKinds> injected{};
  uint64_t operator[](Fault f) const { return injected[static_cast<size_t>(f)]; }
  // Total returns the sum over every kind.
  uint64_t Total() const;
  // Add adds `other` kind by kind.
  void Add(const FaultCounts& other);
  // ToString renders the non-zero counts, e.g. "short_read=12 eintr=40".
  std::string ToString() const;
};

// FaultPlan is the process's active fault plan: at most one exists at a
// time (constructing a second one aborts). Thread-safe.
class FaultPlan {
 public:
  // FaultPlan activates a plan whose decisions derive from `seed`.
  explicit FaultPlan(uint64_t seed);
  // ~FaultPlan waits (up to 10 s) for held-back bytes to go out, stops the
  // flusher thread and forgets every enrolled socket; the sockets
  // themselves stay open (they belong to their owners).
  ~FaultPlan();
  FaultPlan(const FaultPlan&) = delete;
  FaultPlan& operator=(const FaultPlan&) = delete;

  // Add enrolls the open socket `fd` with `faults` (replacing an earlier
  // enrollment of the same number) and returns its ordinal. The enrollment
  // ends when the owner closes the fd.
  uint64_t Add(int fd, const FdFaults& faults);

  // EnrollAccepted enrolls, with `faults`, each of the next `count` sockets
  // accept4 returns (e.g. a listener's side of a dialed connection).
  void EnrollAccepted(const FdFaults& faults, int count = 1);
  // EnrollConnected enrolls, with `faults`, each of the next `count` sockets
  // passed to connect (e.g. the socket a dialer opens).
  void EnrollConnected(const FdFaults& faults, int count = 1);
  // ClearPendingEnrollments drops enrollments no accept4/connect has used.
  void ClearPendingEnrollments();

  // SetAcceptFaults makes accept4 (on any listening socket) fail with EINTR
  // with probability `eintr` and with a spurious EAGAIN with probability
  // `eagain`, from a PRNG stream of its own.
  void SetAcceptFaults(double eintr, double eagain);

  // WaitForDelayedBytes waits until no stalled socket holds bytes back and
  // every deferred close and shutdown has been done. Returns false on
  // timeout.
  bool WaitForDelayedBytes(absl::Duration timeout);

  // counts returns the faults injected so far under this plan.
  FaultCounts counts() const;
  // records returns one FdRecord per enrollment so far, by ordinal.
  std::vector<FdRecord> records() const;
  // record returns the FdRecord of enrollment `ordinal` (which must exist).
  FdRecord record(uint64_t ordinal) const;
  // seed returns the seed every decision derives from.
  uint64_t seed() const { return seed_; }

 private:
  const uint64_t seed_;
};

}  // namespace alts::testing

#endif  // ALTS_TESTS_STRESS_FAULT_INJECTION_H_
