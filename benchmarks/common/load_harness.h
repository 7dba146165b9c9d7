#ifndef ALTS_BENCHMARKS_COMMON_LOAD_HARNESS_H_
#define ALTS_BENCHMARKS_COMMON_LOAD_HARNESS_H_

// Pieces the load programs (benchmarks/stress.cc, rpc_stress.cc) share: an
// error log, waiting on progress with a stall timeout, a periodic timer on
// every reactor, churn pacing, the shared random pattern, trimming the
// pools, and the memory report (RSS at start and after, the margin check).

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "benchmarks/common/load_stats.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/table_printer.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/storage_pool.h"

namespace alts::bench {

// kMaxLoadConns: every connection is a client port on one loopback
// destination, and Linux hands out about 28k ephemeral ports
// (32768..60999) per destination; the rest is room for connections being
// reopened.
inline constexpr int kMaxLoadConns = 25000;
// kMaxLoadDurationS bounds --duration-s (a day): longer soaks are a typo.
inline constexpr int kMaxLoadDurationS = 24 * 3600;
// kLoadCredentialValidity: how long from setup the in-process PKI's leaves
// stay valid: more than kMaxLoadDurationS, so a day-long soak still
// handshakes at its end.
inline constexpr absl::Duration kLoadCredentialValidity = absl::Hours(25);
static_assert(kLoadCredentialValidity > absl::Seconds(kMaxLoadDurationS));
// kLoadTick: period of each reactor's housekeeping timer (churn); 100 ticks
// a second spread the churn evenly without measurable cost.
inline constexpr absl::Duration kLoadTick = absl::Milliseconds(10);
// kLoadStallTimeout: a phase that makes no progress for this long has
// failed; a lost message must fail the run, not hang it.
inline constexpr absl::Duration kLoadStallTimeout = absl::Seconds(30);
// kLoadPoll: how often the main thread looks at the counters.
inline constexpr absl::Duration kLoadPoll = absl::Milliseconds(5);
// kLoadFdHeadroom: descriptors beyond two per connection (listener,
// libevent, stdio, connections being reopened).
inline constexpr rlim_t kLoadFdHeadroom = 512;

// RaiseFdLimitFor raises the descriptor limit for `conns` connections with
// both ends in this process (RaiseFdLimit); if it is too low it prints
// "<program>: ..." to stderr and returns false.
bool RaiseFdLimitFor(int conns, absl::string_view program);

// LoadStack is a reactor group and the pools its connections use.
struct LoadStack {
  // Create starts a group with `options` and makes the read pool, the
  // storage pool and, if `write_pool`, a separate write pool. Returns the
  // first failure.
  static absl::StatusOr<std::unique_ptr<LoadStack>> Create(ReactorGroupOptions options,
                                                           bool write_pool);
  // Trim returns cached memory (TrimPools on every pool).
  void Trim();

  std::unique_ptr<ReactorGroup> group;
  std::unique_ptr<BufferPool> read_pool;
  std::unique_ptr<BufferPool> write_pool;  // nullptr: writes use the read pool
  std::unique_ptr<StoragePool> storage;
  ConnectionResources resources;
};

// LoadErrors counts a program's errors and keeps the first few messages.
// Thread-safe.
class LoadErrors {
 public:
  // LoadErrors keeps at most `keep` messages.
  explicit LoadErrors(size_t keep) : keep_(keep) {}
  // Add counts one error and keeps its message if it is among the first.
  void Add(const std::string& what);
  // count returns the errors counted so far.
  uint64_t count() const;
  // Print writes the kept messages to stderr, each as "<program>: <message>".
  void Print(absl::string_view program) const;

 private:
  const size_t keep_;
  mutable std::mutex mu_;
  uint64_t count_ = 0;              // guarded by mu_
  std::vector<std::string> first_;  // guarded by mu_
};

// WaitForProgress polls `done` every `poll` (running `on_poll` after each
// sleep) until it holds. Returns false once `progress` has not changed for
// `stall_timeout`: a lost message must fail a run, not hang it.
bool WaitForProgress(absl::FunctionRef<bool()> done, absl::FunctionRef<uint64_t()> progress,
                     absl::FunctionRef<void()> on_poll, absl::Duration poll,
                     absl::Duration stall_timeout);

// ReactorTicker runs a callback every `period` on each reactor of a group,
// on that reactor's thread.
class ReactorTicker {
 public:
  // Start arms one timer per reactor of `group`, each calling tick(reactor)
  // every `period`. Returns the first timer error.
  static absl::StatusOr<std::unique_ptr<ReactorTicker>> Start(ReactorGroup& group,
                                                              absl::Duration period,
                                                              std::function<void(Reactor&)> tick);
  // ~ReactorTicker stops the timers on their threads; destroy it before the
  // group shuts down.
  ~ReactorTicker();
  ReactorTicker(const ReactorTicker&) = delete;
  ReactorTicker& operator=(const ReactorTicker&) = delete;

 private:
  ReactorTicker(ReactorGroup& group, absl::Duration period, std::function<void(Reactor&)> tick)
      : group_(group), period_(period), tick_(std::move(tick)) {}

  ReactorGroup& group_;
  const absl::Duration period_;
  const std::function<void(Reactor&)> tick_;
  std::vector<std::unique_ptr<ReactorEvent>> timers_;  // one per reactor, used there
};

// kChurnAttemptsPerClose: random picks a close tries to find a candidate
// that may be churned before giving up the tick.
inline constexpr int kChurnAttemptsPerClose = 8;

// SpendChurnCredit adds `earned` closes to `credit` and spends every whole
// one: each picks random candidates in [0, candidates) until try_churn(i)
// returns true (it churned candidate i). When none is found the credit is
// dropped, so a quiet moment does not save up a burst.
void SpendChurnCredit(double& credit, double earned, size_t candidates, Rng& rng,
                      absl::FunctionRef<bool(size_t)> try_churn);

// ChurnPacer paces one reactor's churn; use it on that reactor's thread.
class ChurnPacer {
 public:
  explicit ChurnPacer(uint64_t seed = 0) : rng_(seed), last_tick_(Clock::now()) {}

  // Restart drops the credit and counts time from now.
  void Restart() {
    credit_ = 0;
    last_tick_ = Clock::now();
  }

  // Tick earns `per_s` closes a second since the last tick and spends them
  // (SpendChurnCredit) on random `candidates` whose Churnable() is true,
  // calling their Churn(). per_s <= 0 churns nothing.
  template <typename T>
  void Tick(const std::vector<T*>& candidates, double per_s) {
    const Clock::time_point now = Clock::now();
    const double elapsed_s = std::chrono::duration<double>(now - last_tick_).count();
    last_tick_ = now;
    if (per_s <= 0) return;
    SpendChurnCredit(credit_, per_s * elapsed_s, candidates.size(), rng_, [&](size_t i) {
      T* c = candidates[i];
      if (!c->Churnable()) return false;
      c->Churn();
      return true;
    });
  }

 private:
  using Clock = std::chrono::steady_clock;
  Rng rng_;
  double credit_ = 0;
  Clock::time_point last_tick_;
};

// LoadProgress shows a load phase's progress on stderr (a ProgressLine):
// `total` items, or for a timed load (total 0) the seconds of `duration`.
class LoadProgress {
 public:
  // LoadProgress shows nothing unless `show`.
  LoadProgress(bool show, std::string_view verb, std::string_view noun, uint64_t total,
               absl::Duration duration);
  // Update reports `done` items (a timed load reports its seconds instead).
  void Update(uint64_t done);
  // Finish prints the last figure.
  void Finish();

 private:
  std::unique_ptr<ProgressLine> line_;
  const uint64_t total_;
  const absl::Time start_;
};

// MakePattern returns `size` random bytes drawn from `seed`.
std::vector<uint8_t> MakePattern(size_t size, uint64_t seed);

// TrimPools returns cached memory: every reactor's caches of `pools` and
// `storage`, their depots, and the allocator's free pages.
void TrimPools(ReactorGroup& group, std::initializer_list<BufferPool*> pools, StoragePool* storage);

// Mib returns `bytes` as "12.3 MiB".
std::string Mib(size_t bytes);

// PoolHighWaterText returns "N buffers of B bytes (X MiB); A allocated in all".
std::string PoolHighWaterText(const BufferPoolStats& stats);

// MemoryReport is a load run's memory: RSS before the warm-up, at the start
// (after it, trimmed) and after the run (everything closed, trimmed), the
// peak, live heap at start and after, and the allowed margin.
struct MemoryReport {
  // MemoryReport reads RSS before the warm-up.
  explicit MemoryReport(int margin_mb);

  size_t rss_initial = 0;
  size_t rss_start = 0;
  size_t rss_after = 0;
  size_t peak_rss = 0;
  int64_t heap_start = 0;
  int64_t heap_after = 0;
  int margin_mb = 0;

  // TakeStart and TakeAfter read RSS and live heap (and, after, the peak).
  void TakeStart();
  void TakeAfter();
  // ok returns true if RSS after is within the margin of the start.
  bool ok() const;
  // AddRows adds the RSS and heap rows to a two-column table.
  void AddRows(TablePrinter& table) const;
  // PrintVerdict prints "RSS after - start = ... : PASS" (or FAIL).
  void PrintVerdict() const;
};

// PrintLoadReport adds `memory`'s rows to `table`, prints it, then the RSS
// verdict and "errors: N: PASS" (or FAIL), and the kept error messages.
void PrintLoadReport(TablePrinter& table, const MemoryReport& memory, const LoadErrors& errors,
                     uint64_t run_errors, absl::string_view program);

// MakeReactorStates returns one State per reactor of `group`, each with
// `reactor` set and a `churn` pacer of its own seed.
template <typename State>
std::vector<std::unique_ptr<State>> MakeReactorStates(ReactorGroup& group) {
  std::vector<std::unique_ptr<State>> states;
  for (size_t i = 0; i < group.size(); ++i) {
    states.push_back(std::make_unique<State>());
    states.back()->reactor = &group.reactor(i);
    states.back()->churn = ChurnPacer(0x5eed0000 + i);
  }
  return states;
}

// WarmUpAndRun runs `warmup` on `harness` without progress, trims and takes
// the start of `memory`, prints `banner`, then runs `config` with progress
// (unless the warm-up had errors or aborted: its result is returned then),
// calls `before_trim` (to read pool figures before trimming) and trims and
// takes the end of `memory`. Harness has Run(config, show_progress) and
// Trim(); its result has `errors` and `aborted`.
template <typename Harness, typename Config>
auto WarmUpAndRun(Harness& harness, const Config& warmup, const Config& config,
                  const std::string& banner, MemoryReport& memory,
                  absl::FunctionRef<void()> before_trim) {
  const auto warm = harness.Run(warmup, /*show_progress=*/false);
  harness.Trim();
  memory.TakeStart();
  std::printf("%s\n", banner.c_str());
  std::fflush(stdout);
  auto result =
      warm.errors > 0 || warm.aborted ? warm : harness.Run(config, /*show_progress=*/true);
  before_trim();
  harness.Trim();
  memory.TakeAfter();
  return result;
}

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_LOAD_HARNESS_H_
