// Micro benchmarks of the read-buffer pool (conn/buffer_pool.h):
//   BM_GetPut              lease + release on one thread (the reactor's case)
//   BM_GetPutBudget        the same in a pool with a budget (CAS on the cache)
//   BM_GetPutNoCache       the same with thread caches off (depot mutex only)
//   BM_AcquireOrWaitIdle   the asynchronous reader's entry point, no waiting
//   BM_PutFromOtherThread  leased on one thread, released on another
//   BM_Contended           two threads leasing from one pool at once
//   BM_ContendedBudget     two threads, a budget of one buffer: an acquire
//                          steals the buffer from the other thread's cache or
//                          waits for its release
//
// Run: build/<dir>/benchmarks/pool_bench --benchmark_min_time=0.5

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/common/heap_accounting.h"
#include "conn/buffer_pool.h"

namespace alts {
namespace {

std::unique_ptr<BufferPool> MakePool(const BufferPoolOptions& options) {
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create(options);
  if (!pool.ok()) std::abort();
  return std::move(*pool);
}

// HeapCounter reports heap allocations per iteration over a benchmark loop
// (every allocation in the process, pool buffers included).
class HeapCounter {
 public:
  void Report(benchmark::State& state) const {
    if (!bench::HeapAccountingActive()) return;
    state.counters["heap_allocs_per_op"] =
        benchmark::Counter(static_cast<double>(counter_.Delta().allocations) /
                           static_cast<double>(state.iterations()));
  }

 private:
  bench::ScopedHeapCounter counter_;
};

void ReportPool(benchmark::State& state, const BufferPool& pool) {
  const BufferPoolStats s = pool.stats();
  state.counters["buffers_allocated"] =
      benchmark::Counter(static_cast<double>(s.allocations));
}

// RunGetPut measures one TryAcquire and release per iteration on a pool made
// with `options`, after a warm-up lease.
void RunGetPut(benchmark::State& state, const BufferPoolOptions& options) {
  auto pool = MakePool(options);
  { BufferLease warm = pool->TryAcquire(); }
  HeapCounter heap;
  for (auto _ : state) {
    BufferLease lease = pool->TryAcquire();
    benchmark::DoNotOptimize(lease.data());
  }
  heap.Report(state);
  ReportPool(state, *pool);
}

void BM_GetPut(benchmark::State& state) {
  RunGetPut(state, BufferPoolOptions{});
}
BENCHMARK(BM_GetPut);

// With a budget, caches are pushed and popped with a compare-and-swap so
// that an exhausted thread can steal from them.
void BM_GetPutBudget(benchmark::State& state) {
  BufferPoolOptions o;
  o.max_bytes_outstanding = 64 * o.buffer_size;
  RunGetPut(state, o);
}
BENCHMARK(BM_GetPutBudget);

void BM_GetPutNoCache(benchmark::State& state) {
  BufferPoolOptions o;
  o.thread_cache_buffers = 0;
  RunGetPut(state, o);
}
BENCHMARK(BM_GetPutNoCache);

class NeverWoken final : public BufferWaiter {
 public:
  void OnBufferAvailable() override {}
};

void BM_AcquireOrWaitIdle(benchmark::State& state) {
  auto pool = MakePool(BufferPoolOptions{});
  NeverWoken waiter;
  { BufferLease warm = pool->TryAcquire(); }
  for (auto _ : state) {
    BufferLease lease = pool->AcquireOrWait(&waiter);
    benchmark::DoNotOptimize(lease.data());
  }
  ReportPool(state, *pool);
}
BENCHMARK(BM_AcquireOrWaitIdle);

// LeaseRing is a single-producer single-consumer ring of leases.
class LeaseRing {
 public:
  static constexpr uint32_t kSize = 256;

  void Push(BufferLease lease) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    while (head - tail_.load(std::memory_order_acquire) == kSize) {
      std::this_thread::yield();
    }
    slots_[head % kSize] = std::move(lease);
    head_.store(head + 1, std::memory_order_release);
  }

  BufferLease Pop() {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    while (head_.load(std::memory_order_acquire) == tail) {
      std::this_thread::yield();
    }
    BufferLease lease = std::move(slots_[tail % kSize]);
    tail_.store(tail + 1, std::memory_order_release);
    return lease;
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  BufferLease slots_[kSize];
};

std::unique_ptr<BufferPool> g_pool;
std::unique_ptr<LeaseRing> g_ring;

// Thread 0 leases and hands over; thread 1 releases. Time per iteration is
// one buffer's round trip, amortised over the ring.
void BM_PutFromOtherThread(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_pool = MakePool(BufferPoolOptions{});
    g_ring = std::make_unique<LeaseRing>();
  }
  // The loop starts with a barrier, so thread 1 sees the setup.
  if (state.thread_index() == 0) {
    for (auto _ : state) {
      BufferLease lease = g_pool->TryAcquire();
      if (!lease) std::abort();
      g_ring->Push(std::move(lease));
    }
  } else {
    for (auto _ : state) g_ring->Pop().Reset();
  }
  if (state.thread_index() == 0) {
    // Both loops ran the same number of iterations: the ring is empty.
    ReportPool(state, *g_pool);
    state.counters["handoffs"] = benchmark::Counter(
        static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_PutFromOtherThread)->Threads(2)->UseRealTime();

void SetupShared(benchmark::State& state, const BufferPoolOptions& options) {
  if (state.thread_index() == 0) g_pool = MakePool(options);
}

void BM_Contended(benchmark::State& state) {
  BufferPoolOptions o;
  o.thread_cache_buffers = static_cast<size_t>(state.range(0));
  SetupShared(state, o);
  for (auto _ : state) {
    BufferLease lease = g_pool->TryAcquire();
    benchmark::DoNotOptimize(lease.data());
  }
  if (state.thread_index() == 0) ReportPool(state, *g_pool);
}
// Arg: thread cache capacity (0 = every acquire takes the depot mutex).
BENCHMARK(BM_Contended)->Arg(32)->Arg(0)->Threads(2)->UseRealTime();

void BM_ContendedBudget(benchmark::State& state) {
  BufferPoolOptions o;
  o.max_bytes_outstanding = o.buffer_size;  // one buffer for both threads
  SetupShared(state, o);
  for (auto _ : state) {
    BufferLease lease = g_pool->AcquireBlocking(absl::Seconds(60));
    if (!lease) std::abort();
    benchmark::DoNotOptimize(lease.data());
  }
  if (state.thread_index() == 0) {
    const BufferPoolStats s = g_pool->stats();
    state.counters["wakeups"] =
        benchmark::Counter(static_cast<double>(s.wakeups));
    state.counters["steals"] =
        benchmark::Counter(static_cast<double>(s.steals));
    ReportPool(state, *g_pool);
  }
}
BENCHMARK(BM_ContendedBudget)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace alts

BENCHMARK_MAIN();
