#include "benchmarks/common/load_harness.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"

namespace alts::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

bool RaiseFdLimitFor(int conns, absl::string_view program) {
  rlim_t limit = 0;
  const rlim_t need = 2 * static_cast<rlim_t>(conns) + kLoadFdHeadroom;
  if (RaiseFdLimit(need, &limit)) return true;
  std::fprintf(stderr, "%s: %d connections need %llu descriptors; the limit is %llu\n",
               std::string(program).c_str(), conns, static_cast<unsigned long long>(need),
               static_cast<unsigned long long>(limit));
  return false;
}

absl::StatusOr<std::unique_ptr<LoadStack>> LoadStack::Create(ReactorGroupOptions options,
                                                             bool write_pool) {
  auto stack = std::make_unique<LoadStack>();
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group = ReactorGroup::Create(std::move(options));
  if (!group.ok()) return group.status();
  stack->group = *std::move(group);
  for (std::unique_ptr<BufferPool>* pool : {&stack->read_pool, &stack->write_pool}) {
    if (pool == &stack->write_pool && !write_pool) break;
    absl::StatusOr<std::unique_ptr<BufferPool>> made = BufferPool::Create({});
    if (!made.ok()) return made.status();
    *pool = *std::move(made);
  }
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  if (!storage.ok()) return storage.status();
  stack->storage = *std::move(storage);
  stack->resources.read_pool = stack->read_pool.get();
  stack->resources.write_pool = stack->write_pool.get();
  stack->resources.storage = stack->storage.get();
  return stack;
}

void LoadStack::Trim() {
  if (write_pool != nullptr) {
    TrimPools(*group, {read_pool.get(), write_pool.get()}, storage.get());
  } else {
    TrimPools(*group, {read_pool.get()}, storage.get());
  }
}

void LoadErrors::Add(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  ++count_;
  if (first_.size() < keep_) first_.push_back(what);
}

uint64_t LoadErrors::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

void LoadErrors::Print(absl::string_view program) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& e : first_) {
    std::fprintf(stderr, "%s: %s\n", std::string(program).c_str(), e.c_str());
  }
}

bool WaitForProgress(absl::FunctionRef<bool()> done, absl::FunctionRef<uint64_t()> progress,
                     absl::FunctionRef<void()> on_poll, absl::Duration poll,
                     absl::Duration stall_timeout) {
  uint64_t last = progress();
  absl::Time last_change = absl::Now();
  while (!done()) {
    absl::SleepFor(poll);
    on_poll();
    const uint64_t now = progress();
    if (now != last) {
      last = now;
      last_change = absl::Now();
    } else if (absl::Now() - last_change > stall_timeout) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::unique_ptr<ReactorTicker>> ReactorTicker::Start(
    ReactorGroup& group, absl::Duration period, std::function<void(Reactor&)> tick) {
  std::unique_ptr<ReactorTicker> ticker(new ReactorTicker(group, period, std::move(tick)));
  ticker->timers_.resize(group.size());
  absl::Status status = absl::OkStatus();
  std::mutex mu;
  ReactorTicker* t = ticker.get();
  absl::Status ran = group.RunOnAllAndWait([&](Reactor& r) {
    std::unique_ptr<ReactorEvent>& slot = t->timers_[r.index()];
    absl::StatusOr<std::unique_ptr<ReactorEvent>> timer =
        ReactorEvent::CreateTimer(r, [t, &r, &slot](short) {
          t->tick_(r);
          (void)slot->Add(t->period_);
        });
    absl::Status s = timer.ok() ? (*timer)->Add(period) : timer.status();
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      status = s;
      return;
    }
    slot = *std::move(timer);
  });
  if (!ran.ok()) return ran;
  if (!status.ok()) return status;
  return ticker;
}

ReactorTicker::~ReactorTicker() {
  (void)group_.RunOnAllAndWait([&](Reactor& r) { timers_[r.index()].reset(); });
}

void SpendChurnCredit(double& credit, double earned, size_t candidates, Rng& rng,
                      absl::FunctionRef<bool(size_t)> try_churn) {
  credit += earned;
  while (credit >= 1) {
    credit -= 1;
    bool churned = false;
    for (int attempt = 0; attempt < kChurnAttemptsPerClose && candidates > 0 && !churned;
         ++attempt) {
      churned = try_churn(rng.Uniform(0, candidates - 1));
    }
    if (!churned) {
      credit = 0;
      return;
    }
  }
}

LoadProgress::LoadProgress(bool show, std::string_view verb, std::string_view noun, uint64_t total,
                           absl::Duration duration)
    : total_(total), start_(absl::Now()) {
  if (!show) return;
  line_ = total > 0 ? std::make_unique<ProgressLine>(verb, noun, total)
                    : std::make_unique<ProgressLine>(
                          "ran", "seconds", static_cast<uint64_t>(absl::ToInt64Seconds(duration)));
}

void LoadProgress::Update(uint64_t done) {
  if (line_ == nullptr) return;
  line_->Update(total_ > 0 ? done
                           : static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - start_)));
}

void LoadProgress::Finish() {
  if (line_ != nullptr) line_->Finish();
}

std::vector<uint8_t> MakePattern(size_t size, uint64_t seed) {
  std::vector<uint8_t> pattern(size);
  Rng rng(seed);
  for (size_t i = 0; i < pattern.size(); i += 8) {
    const uint64_t v = rng.Next();
    std::memcpy(pattern.data() + i, &v, std::min<size_t>(8, pattern.size() - i));
  }
  return pattern;
}

void TrimPools(ReactorGroup& group, std::initializer_list<BufferPool*> pools,
               StoragePool* storage) {
  auto trim = [&] {
    for (BufferPool* p : pools) p->Trim();
    storage->Trim();
  };
  (void)group.RunOnAllAndWait([&](Reactor&) { trim(); });
  trim();
  malloc_trim(0);
}

std::string Mib(size_t bytes) { return absl::StrFormat("%.1f MiB", bytes / kMiB); }

std::string PoolHighWaterText(const BufferPoolStats& stats) {
  return absl::StrFormat("%d buffers of %d bytes (%s); %d allocated in all",
                         stats.high_water_outstanding, stats.buffer_size,
                         Mib(stats.high_water_outstanding * stats.buffer_size), stats.allocations);
}

MemoryReport::MemoryReport(int margin) : rss_initial(CurrentRssBytes()), margin_mb(margin) {}

void MemoryReport::TakeStart() {
  rss_start = CurrentRssBytes();
  heap_start = TakeHeapSnapshot().live_bytes;
}

void MemoryReport::TakeAfter() {
  rss_after = CurrentRssBytes();
  heap_after = TakeHeapSnapshot().live_bytes;
  peak_rss = PeakRssBytes();
}

bool MemoryReport::ok() const {
  return static_cast<double>(rss_after) <= static_cast<double>(rss_start) + margin_mb * kMiB;
}

void MemoryReport::AddRows(TablePrinter& table) const {
  (void)table.AddRow({"RSS before warm-up", Mib(rss_initial)});
  (void)table.AddRow({"RSS at start", Mib(rss_start)});
  (void)table.AddRow({"peak RSS", Mib(peak_rss)});
  (void)table.AddRow({"RSS after", Mib(rss_after)});
  (void)table.AddRow(
      {"heap live start -> after",
       absl::StrFormat("%s -> %s", Mib(static_cast<size_t>(std::max<int64_t>(heap_start, 0))),
                       Mib(static_cast<size_t>(std::max<int64_t>(heap_after, 0))))});
}

void MemoryReport::PrintVerdict() const {
  std::printf("RSS after - start = %+.1f MiB (margin %d MiB): %s\n",
              (static_cast<double>(rss_after) - static_cast<double>(rss_start)) / kMiB, margin_mb,
              ok() ? "PASS" : "FAIL");
}


void PrintLoadReport(TablePrinter& table, const MemoryReport& memory, const LoadErrors& errors,
                     uint64_t run_errors, absl::string_view program) {
  memory.AddRows(table);
  table.Print(stdout);
  memory.PrintVerdict();
  std::printf("errors: %llu: %s\n", static_cast<unsigned long long>(run_errors),
              run_errors == 0 ? "PASS" : "FAIL");
  errors.Print(program);
}

}  // namespace alts::bench
