#include "tests/stress/fault_injection.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

// The sanitizer runtimes (linked statically by clang) define their
// interceptors under these names, with the plain names as weak aliases that
// the definitions below override. Calling them keeps the sanitizers' view of
// the calls (ThreadSanitizer tracks fds through them); without a sanitizer
// they are null and dlsym(RTLD_NEXT) finds libc.
extern "C" {
ssize_t __interceptor_recv(int, void*, size_t, int) __attribute__((weak));
ssize_t __interceptor_send(int, const void*, size_t, int) __attribute__((weak));
ssize_t __interceptor_sendmsg(int, const struct msghdr*, int) __attribute__((weak));
ssize_t __interceptor_read(int, void*, size_t) __attribute__((weak));
ssize_t __interceptor_write(int, const void*, size_t) __attribute__((weak));
int __interceptor_accept4(int, struct sockaddr*, socklen_t*, int) __attribute__((weak));
int __interceptor_connect(int, const struct sockaddr*, socklen_t) __attribute__((weak));
int __interceptor_shutdown(int, int) __attribute__((weak));
int __interceptor_close(int) __attribute__((weak));
}

namespace alts::testing {
namespace {

// kMaxShimIovecs: iovecs the shim rebuilds when it shortens a sendmsg; more
// than the conn layer ever passes (it uses 16).
constexpr int kMaxShimIovecs = 64;
// kFlushChunk: bytes the flusher sends per call, copied out of the queue.
constexpr size_t kFlushChunk = 64 * 1024;
// kFlushPollMs: how long the flusher waits for a full socket to drain
// before it looks at the other stalled sockets again.
constexpr int kFlushPollMs = 5;
// kDestructorDrainTimeout: how long ~FaultPlan waits for held-back bytes.
constexpr absl::Duration kDestructorDrainTimeout = absl::Seconds(10);

// ---------------------------------------------------------------------------
// The real calls.

struct RealCalls {
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*shutdown)(int, int);
  int (*close)(int);
};

template <typename F>
F Resolve(F interceptor, const char* name) {
  if (interceptor != nullptr) return interceptor;
  void* real = dlsym(RTLD_NEXT, name);
  if (real == nullptr) {
    fprintf(stderr, "fault_injection: cannot resolve %s\n", name);
    abort();
  }
  return reinterpret_cast<F>(real);
}

const RealCalls& Real() {
  static const RealCalls real = [] {
    RealCalls r;
    r.recv = Resolve(&__interceptor_recv, "recv");
    r.send = Resolve(&__interceptor_send, "send");
    r.sendmsg = Resolve(&__interceptor_sendmsg, "sendmsg");
    r.read = Resolve(&__interceptor_read, "read");
    r.write = Resolve(&__interceptor_write, "write");
    r.accept4 = Resolve(&__interceptor_accept4, "accept4");
    r.connect = Resolve(&__interceptor_connect, "connect");
    r.shutdown = Resolve(&__interceptor_shutdown, "shutdown");
    r.close = Resolve(&__interceptor_close, "close");
    return r;
  }();
  return real;
}

// ---------------------------------------------------------------------------
// Deterministic randomness: SplitMix64, one stream per socket.

uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool Chance(uint64_t& state, double p) {
  if (p <= 0) return false;
  return static_cast<double>(NextRandom(state) >> 11) * 0x1.0p-53 < p;
}

// Below returns a value in [0, n); n > 0.
uint64_t Below(uint64_t& state, uint64_t n) { return NextRandom(state) % n; }

uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  uint64_t s = seed ^ (0x632be59bd9b4e019ull * (stream + 1));
  return NextRandom(s);
}

// ---------------------------------------------------------------------------
// State.

struct FdState {
  FdFaults faults;
  uint64_t rng = 0;
  size_t record = 0;  // index into State::records
  uint32_t eintr_left = 0;
  uint32_t eagain_left = 0;
  bool dead = false;        // reset: every call fails with ECONNRESET
  bool write_shut = false;  // half-closed by the shim: writes fail with EPIPE
  bool broken = false;      // the flusher's send failed: writes fail with EPIPE
  // Stall: while `stalled`, writes are appended to `delayed`, which the
  // flusher sends from `release_at` on.
  bool stalled = false;
  std::string delayed;
  absl::Time release_at;
  bool close_pending = false;
  int shutdown_pending = -1;  // the `how` of a deferred shutdown, or -1
};

struct Enrollment {
  FdFaults faults;
  int count = 0;
};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  bool active = false;
  uint64_t seed = 0;
  std::unordered_map<int, FdState> fds;
  std::vector<FdRecord> records;
  std::deque<Enrollment> accepted, connected;
  double accept_eintr = 0;
  double accept_eagain = 0;
  uint64_t accept_rng = 0;
  FaultCounts counts;
  bool stop = false;
  std::thread flusher;
  // Deferred closes the flusher is doing right now.
  int closes_in_flight = 0;
  // engaged: a call may concern the plan; false lets every call through
  // without taking the lock. Written under mu.
  std::atomic<bool> engaged{false};

  void UpdateEngagedLocked() {
    engaged.store(active && (!fds.empty() || !accepted.empty() || !connected.empty() ||
                             accept_eintr > 0 || accept_eagain > 0),
                  std::memory_order_release);
  }
};

State& S() {
  static State* const state = new State;  // never destroyed: calls may come late
  return *state;
}

bool Engaged() { return S().engaged.load(std::memory_order_acquire); }

void CountLocked(State& s, FdState* st, Fault f) {
  s.counts.injected[static_cast<size_t>(f)]++;
  if (st != nullptr) s.records[st->record].injected[static_cast<size_t>(f)]++;
}

uint64_t EnrollLocked(State& s, int fd, const FdFaults& faults) {
  FdState st;
  st.faults = faults;
  st.record = s.records.size();
  st.rng = StreamSeed(s.seed, st.record);
  FdRecord rec;
  rec.ordinal = st.record;
  rec.fd = fd;
  s.records.push_back(std::move(rec));
  s.fds[fd] = std::move(st);
  s.UpdateEngagedLocked();
  return s.records.back().ordinal;
}

bool NonBlocking(int fd, int flags) {
  if (flags & MSG_DONTWAIT) return true;
  const int fl = fcntl(fd, F_GETFL, 0);
  return fl >= 0 && (fl & O_NONBLOCK) != 0;
}

// StormLocked returns EINTR or EAGAIN if this call must fail, else 0.
int StormLocked(State& s, FdState& st, int fd, int flags) {
  if (st.eintr_left > 0) {
    --st.eintr_left;
    CountLocked(s, &st, Fault::kEintr);
    return EINTR;
  }
  if (st.eagain_left > 0) {
    --st.eagain_left;
    CountLocked(s, &st, Fault::kEagain);
    return EAGAIN;
  }
  const uint32_t storm = std::max<uint32_t>(st.faults.max_storm, 1);
  if (Chance(st.rng, st.faults.eintr)) {
    st.eintr_left = static_cast<uint32_t>(Below(st.rng, storm));
    CountLocked(s, &st, Fault::kEintr);
    return EINTR;
  }
  if (st.faults.eagain > 0 && NonBlocking(fd, flags) && Chance(st.rng, st.faults.eagain)) {
    st.eagain_left = static_cast<uint32_t>(Below(st.rng, storm));
    CountLocked(s, &st, Fault::kEagain);
    return EAGAIN;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Reads.

struct ReadPlan {
  bool watched = false;
  int err = 0;
  size_t len = 0;
};

ReadPlan PlanRead(int fd, size_t len, int flags) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  ReadPlan plan;
  plan.len = len;
  auto it = s.fds.find(fd);
  if (it == s.fds.end()) return plan;
  FdState& st = it->second;
  plan.watched = true;
  if (st.dead) {
    plan.err = ECONNRESET;
    return plan;
  }
  if ((plan.err = StormLocked(s, st, fd, flags)) != 0) return plan;
  if (len > 1 && Chance(st.rng, st.faults.short_read)) {
    plan.len = 1 + Below(st.rng, len - 1);
    CountLocked(s, &st, Fault::kShortRead);
  }
  return plan;
}

void NoteRead(int fd, ssize_t n) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.fds.find(fd);
  if (it != s.fds.end()) s.records[it->second.record].bytes_read += n;
}

template <typename Call>
ssize_t ShimRead(int fd, size_t len, int flags, Call call) {
  if (!Engaged()) return call(len);
  const ReadPlan plan = PlanRead(fd, len, flags);
  if (plan.err != 0) {
    errno = plan.err;
    return -1;
  }
  const ssize_t n = call(plan.len);
  if (plan.watched && n > 0) {
    const int saved = errno;
    NoteRead(fd, n);
    errno = saved;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Writes. Every write call is seen as an iovec array; `send(k)` performs
// the real call on the first k bytes.

size_t TotalBytes(const iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

void AppendPrefix(std::string* out, const iovec* iov, int count, size_t n) {
  for (int i = 0; i < count && n > 0; ++i) {
    const size_t take = std::min(n, iov[i].iov_len);
    out->append(static_cast<const char*>(iov[i].iov_base), take);
    n -= take;
  }
}

// PrefixIovecs fills `out` with the first `n` bytes of `iov` and returns
// the count of entries used.
int PrefixIovecs(const iovec* iov, int count, size_t n, iovec* out) {
  int used = 0;
  for (int i = 0; i < count && n > 0 && used < kMaxShimIovecs; ++i) {
    const size_t take = std::min(n, iov[i].iov_len);
    if (take == 0) continue;
    out[used].iov_base = iov[i].iov_base;
    out[used].iov_len = take;
    ++used;
    n -= take;
  }
  return used;
}

enum class WriteMode { kPass, kDirect, kHeld, kReset, kHalfClose };

struct WritePlan {
  WriteMode mode = WriteMode::kPass;
  int err = 0;
  size_t len = 0;
};

WritePlan PlanWrite(int fd, const iovec* iov, int count, size_t total, int flags) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  WritePlan plan;
  plan.len = total;
  auto it = s.fds.find(fd);
  if (it == s.fds.end()) return plan;
  FdState& st = it->second;
  FdRecord& rec = s.records[st.record];
  plan.mode = WriteMode::kDirect;
  if (st.dead) {
    plan.err = ECONNRESET;
    return plan;
  }
  if (st.write_shut || st.broken) {
    plan.err = EPIPE;
    return plan;
  }
  if (st.stalled) {
    // Keep order: everything after the stall began waits behind it.
    if (st.delayed.size() + total > kMaxDelayedBytes) {
      plan.err = EAGAIN;
      return plan;
    }
    AppendPrefix(&st.delayed, iov, count, total);
    if (st.faults.capture) AppendPrefix(&rec.written, iov, count, total);
    rec.bytes_written += static_cast<int64_t>(total);
    plan.mode = WriteMode::kHeld;
    return plan;
  }
  if ((plan.err = StormLocked(s, st, fd, flags)) != 0) return plan;
  if (total > 0 && Chance(st.rng, st.faults.stall)) {
    st.stalled = true;
    st.release_at = absl::Now() + st.faults.stall_for;
    AppendPrefix(&st.delayed, iov, count, total);
    if (st.faults.capture) AppendPrefix(&rec.written, iov, count, total);
    rec.bytes_written += static_cast<int64_t>(total);
    CountLocked(s, &st, Fault::kStall);
    s.cv.notify_all();
    plan.mode = WriteMode::kHeld;
    return plan;
  }
  const int64_t written = rec.bytes_written;
  if (st.faults.reset_after >= 0 && written + static_cast<int64_t>(total) > st.faults.reset_after) {
    plan.mode = WriteMode::kReset;
    plan.len = static_cast<size_t>(std::max<int64_t>(st.faults.reset_after - written, 0));
    return plan;
  }
  if (st.faults.half_close_after >= 0 &&
      written + static_cast<int64_t>(total) > st.faults.half_close_after) {
    plan.mode = WriteMode::kHalfClose;
    plan.len = static_cast<size_t>(std::max<int64_t>(st.faults.half_close_after - written, 0));
    return plan;
  }
  if (total > 1 && Chance(st.rng, st.faults.short_write)) {
    plan.len = 1 + Below(st.rng, total - 1);
    CountLocked(s, &st, Fault::kShortWrite);
  }
  return plan;
}

void NoteWritten(int fd, const iovec* iov, int count, size_t n) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.fds.find(fd);
  if (it == s.fds.end()) return;
  FdRecord& rec = s.records[it->second.record];
  rec.bytes_written += static_cast<int64_t>(n);
  if (it->second.faults.capture) AppendPrefix(&rec.written, iov, count, n);
}

// AbortSocket makes the kernel reset the connection (SO_LINGER 0, then the
// socket's last reference goes away) while `fd` stays a valid descriptor
// (of an unconnected socket) until its owner closes it, so the number
// cannot be reused under the owner.
void AbortSocket(int fd) {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  const int placeholder = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (placeholder < 0 || dup3(placeholder, fd, O_CLOEXEC) < 0) {
    fprintf(stderr, "fault_injection: cannot abort fd %d: %s\n", fd, strerror(errno));
    abort();
  }
  Real().close(placeholder);
}

template <typename Call>
ssize_t ShimWrite(int fd, const iovec* iov, int count, int flags, Call send_prefix) {
  const size_t total = TotalBytes(iov, count);
  if (!Engaged()) return send_prefix(total);
  const WritePlan plan = PlanWrite(fd, iov, count, total, flags);
  if (plan.err != 0) {
    errno = plan.err;
    return -1;
  }
  switch (plan.mode) {
    case WriteMode::kPass:
      return send_prefix(total);
    case WriteMode::kHeld:
      return static_cast<ssize_t>(total);
    case WriteMode::kDirect: {
      const ssize_t n = send_prefix(plan.len);
      if (n > 0) {
        const int saved = errno;
        NoteWritten(fd, iov, count, static_cast<size_t>(n));
        errno = saved;
      }
      return n;
    }
    case WriteMode::kReset:
    case WriteMode::kHalfClose: {
      ssize_t sent = 0;
      if (plan.len > 0) {
        sent = send_prefix(plan.len);
        if (sent < 0) return sent;
        NoteWritten(fd, iov, count, static_cast<size_t>(sent));
        if (static_cast<size_t>(sent) < plan.len) return sent;  // the cut comes later
      }
      State& s = S();
      if (plan.mode == WriteMode::kReset) {
        AbortSocket(fd);
      } else {
        Real().shutdown(fd, SHUT_WR);
      }
      {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.fds.find(fd);
        if (it != s.fds.end()) {
          FdState& st = it->second;
          if (plan.mode == WriteMode::kReset) {
            st.dead = true;
            s.records[st.record].reset = true;
            CountLocked(s, &st, Fault::kReset);
          } else {
            st.write_shut = true;
            s.records[st.record].half_closed = true;
            CountLocked(s, &st, Fault::kHalfClose);
          }
        }
      }
      if (plan.mode == WriteMode::kHalfClose && sent > 0) return sent;
      errno = plan.mode == WriteMode::kReset ? ECONNRESET : EPIPE;
      return -1;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------
// The flusher thread sends held-back bytes once their stall is over.

// FinishStallLocked ends the stall of `fd`, whose held-back bytes are all
// out: it performs the deferred shutdown and close. The fd counts as
// stalled until they are done, so WaitForDelayedBytes waits for them.
void FinishStallLocked(State& s, std::unique_lock<std::mutex>& lock, int fd) {
  FdState& st = s.fds[fd];
  const int how = st.shutdown_pending;
  const bool close_now = st.close_pending;
  st.shutdown_pending = -1;
  if (close_now) {
    // Forget the fd before its number can be reused.
    s.fds.erase(fd);
    s.UpdateEngagedLocked();
    s.closes_in_flight++;
  }
  lock.unlock();
  if (how >= 0) Real().shutdown(fd, how);
  if (close_now) Real().close(fd);
  lock.lock();
  if (close_now) {
    s.closes_in_flight--;
  } else if (auto it = s.fds.find(fd); it != s.fds.end()) {
    // The owner may have written, shut down or closed meanwhile: then the
    // stall goes on and the flusher comes back to it at once.
    FdState& st = it->second;
    if (st.delayed.empty() && !st.close_pending && st.shutdown_pending < 0) st.stalled = false;
  }
  s.cv.notify_all();
}

void FlusherMain() {
  State& s = S();
  std::unique_lock<std::mutex> lock(s.mu);
  while (!s.stop) {
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    int fd = -1;
    for (auto& [f, st] : s.fds) {
      if (!st.stalled) continue;
      if (st.release_at <= now) {
        fd = f;
        break;
      }
      next = std::min(next, st.release_at);
    }
    if (fd < 0) {
      if (next == absl::InfiniteFuture()) {
        s.cv.wait(lock);
      } else {
        s.cv.wait_for(lock, absl::ToChronoNanoseconds(next - now));
      }
      continue;
    }
    FdState& st = s.fds[fd];
    if (st.delayed.empty() || st.broken || st.dead) {
      st.delayed.clear();
      FinishStallLocked(s, lock, fd);
      continue;
    }
    const std::string chunk = st.delayed.substr(0, kFlushChunk);
    lock.unlock();
    ssize_t n = Real().send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    const int err = errno;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, kFlushPollMs);
    }
    lock.lock();
    auto it = s.fds.find(fd);  // still there: closes wait for the flusher
    if (it == s.fds.end()) continue;
    if (n > 0) {
      it->second.delayed.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
      it->second.broken = true;  // the peer is gone: later writes fail
      it->second.delayed.clear();
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API.

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kShortRead:
      return "short_read";
    case Fault::kShortWrite:
      return "short_write";
    case Fault::kEintr:
      return "eintr";
    case Fault::kEagain:
      return "eagain";
    case Fault::kReset:
      return "reset";
    case Fault::kHalfClose:
      return "half_close";
    case Fault::kStall:
      return "stall";
    case Fault::kAcceptEintr:
      return "accept_eintr";
    case Fault::kAcceptEagain:
      return "accept_eagain";
  }
  return "?";
}

uint64_t FaultCounts::Total() const {
  uint64_t total = 0;
  for (uint64_t n : injected) total += n;
  return total;
}

void FaultCounts::Add(const FaultCounts& other) {
  for (size_t i = 0; i < kFaultKinds; ++i) injected[i] += other.injected[i];
}

std::string FaultCounts::ToString() const {
  std::string out;
  for (size_t i = 0; i < kFaultKinds; ++i) {
    if (injected[i] == 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : " ", FaultName(static_cast<Fault>(i)), "=",
                    injected[i]);
  }
  return out.empty() ? "none" : out;
}

FaultPlan::FaultPlan(uint64_t seed) : seed_(seed) {
  (void)Real();  // resolve before any thread races for it
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.active) {
    fprintf(stderr, "fault_injection: only one FaultPlan may exist at a time\n");
    abort();
  }
  s.active = true;
  s.seed = seed;
  s.fds.clear();
  s.records.clear();
  s.accepted.clear();
  s.connected.clear();
  s.accept_eintr = s.accept_eagain = 0;
  s.accept_rng = StreamSeed(seed, ~uint64_t{0});
  s.counts = FaultCounts();
  s.stop = false;
  s.flusher = std::thread(FlusherMain);
  s.UpdateEngagedLocked();
}

FaultPlan::~FaultPlan() {
  (void)WaitForDelayedBytes(kDestructorDrainTimeout);
  State& s = S();
  std::thread flusher;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stop = true;
    s.cv.notify_all();
    flusher = std::move(s.flusher);
  }
  flusher.join();
  std::lock_guard<std::mutex> lock(s.mu);
  s.fds.clear();
  s.accepted.clear();
  s.connected.clear();
  s.accept_eintr = s.accept_eagain = 0;
  s.active = false;
  s.UpdateEngagedLocked();
}

uint64_t FaultPlan::Add(int fd, const FdFaults& faults) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return EnrollLocked(s, fd, faults);
}

void FaultPlan::EnrollAccepted(const FdFaults& faults, int count) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.accepted.push_back({faults, count});
  s.UpdateEngagedLocked();
}

void FaultPlan::EnrollConnected(const FdFaults& faults, int count) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.connected.push_back({faults, count});
  s.UpdateEngagedLocked();
}

void FaultPlan::ClearPendingEnrollments() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.accepted.clear();
  s.connected.clear();
  s.UpdateEngagedLocked();
}

void FaultPlan::SetAcceptFaults(double eintr, double eagain) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.accept_eintr = eintr;
  s.accept_eagain = eagain;
  s.UpdateEngagedLocked();
}

bool FaultPlan::WaitForDelayedBytes(absl::Duration timeout) {
  State& s = S();
  std::unique_lock<std::mutex> lock(s.mu);
  return s.cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    if (s.closes_in_flight > 0) return false;
    for (const auto& [fd, st] : s.fds) {
      if (st.stalled) return false;
    }
    return true;
  });
}

FaultCounts FaultPlan::counts() const {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.counts;
}

std::vector<FdRecord> FaultPlan::records() const {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.records;
}

FdRecord FaultPlan::record(uint64_t ordinal) const {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.records.at(ordinal);
}

}  // namespace alts::testing

// ---------------------------------------------------------------------------
// The interposed calls.

namespace fi = alts::testing;

extern "C" {

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  return fi::ShimRead(fd, len, flags,
                      [&](size_t n) { return fi::Real().recv(fd, buf, n, flags); });
}

ssize_t read(int fd, void* buf, size_t len) {
  return fi::ShimRead(fd, len, 0, [&](size_t n) { return fi::Real().read(fd, buf, n); });
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  iovec iov{const_cast<void*>(buf), len};
  return fi::ShimWrite(fd, &iov, 1, flags,
                       [&](size_t n) { return fi::Real().send(fd, buf, n, flags); });
}

ssize_t write(int fd, const void* buf, size_t len) {
  iovec iov{const_cast<void*>(buf), len};
  return fi::ShimWrite(fd, &iov, 1, 0, [&](size_t n) { return fi::Real().write(fd, buf, n); });
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  const int count = static_cast<int>(msg->msg_iovlen);
  return fi::ShimWrite(fd, msg->msg_iov, count, flags, [&](size_t n) {
    if (n == fi::TotalBytes(msg->msg_iov, count)) return fi::Real().sendmsg(fd, msg, flags);
    iovec iov[fi::kMaxShimIovecs];
    msghdr shorter = *msg;
    shorter.msg_iov = iov;
    shorter.msg_iovlen = static_cast<size_t>(fi::PrefixIovecs(msg->msg_iov, count, n, iov));
    return fi::Real().sendmsg(fd, &shorter, flags);
  });
}

int accept4(int fd, struct sockaddr* addr, socklen_t* addrlen, int flags) {
  if (fi::Engaged()) {
    fi::State& s = fi::S();
    std::lock_guard<std::mutex> lock(s.mu);
    if (fi::Chance(s.accept_rng, s.accept_eintr)) {
      fi::CountLocked(s, nullptr, fi::Fault::kAcceptEintr);
      errno = EINTR;
      return -1;
    }
    if (s.accept_eagain > 0 && fi::NonBlocking(fd, 0) &&
        fi::Chance(s.accept_rng, s.accept_eagain)) {
      fi::CountLocked(s, nullptr, fi::Fault::kAcceptEagain);
      errno = EAGAIN;
      return -1;
    }
  }
  const int accepted = fi::Real().accept4(fd, addr, addrlen, flags);
  if (accepted >= 0 && fi::Engaged()) {
    const int saved = errno;
    fi::State& s = fi::S();
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.accepted.empty()) {
      fi::Enrollment& e = s.accepted.front();
      const fi::FdFaults faults = e.faults;
      if (--e.count <= 0) s.accepted.pop_front();
      fi::EnrollLocked(s, accepted, faults);
    }
    errno = saved;
  }
  return accepted;
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  if (fi::Engaged()) {
    fi::State& s = fi::S();
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.connected.empty() && s.fds.find(fd) == s.fds.end()) {
      fi::Enrollment& e = s.connected.front();
      const fi::FdFaults faults = e.faults;
      if (--e.count <= 0) s.connected.pop_front();
      fi::EnrollLocked(s, fd, faults);
    }
  }
  return fi::Real().connect(fd, addr, len);
}

int shutdown(int fd, int how) noexcept {
  if (fi::Engaged()) {
    fi::State& s = fi::S();
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.fds.find(fd);
    if (it != s.fds.end() && it->second.stalled) {
      it->second.shutdown_pending = how;  // after the held-back bytes
      return 0;
    }
  }
  return fi::Real().shutdown(fd, how);
}

int close(int fd) {
  if (fi::Engaged()) {
    fi::State& s = fi::S();
    std::unique_lock<std::mutex> lock(s.mu);
    auto it = s.fds.find(fd);
    if (it != s.fds.end()) {
      s.records[it->second.record].closed = true;
      if (it->second.stalled) {
        it->second.close_pending = true;  // the flusher closes it when drained
        return 0;
      }
      // Forget the fd before the number can be reused by another thread.
      s.fds.erase(it);
      s.UpdateEngagedLocked();
    }
  }
  return fi::Real().close(fd);
}

}  // extern "C"
