// alts-test-labels: threads
#include "conn/buffer_pool.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

// Counting global operator new, so tests can assert that hot paths allocate
// nothing. Pool buffers come from aligned_alloc and are counted by the pool's
// own `allocations` statistic instead. Sanitizer runtimes own operator new,
// so there the allocation tests are skipped.
#if defined(ALTS_SANITIZER_BUILD) || defined(ABSL_HAVE_ADDRESS_SANITIZER) || \
    defined(ABSL_HAVE_THREAD_SANITIZER) || defined(ABSL_HAVE_MEMORY_SANITIZER)
#define ALTS_POOL_TEST_COUNT_NEW 0
#else
#define ALTS_POOL_TEST_COUNT_NEW 1
#endif

namespace {
std::atomic<uint64_t> g_operator_new_calls{0};
}  // namespace

#if ALTS_POOL_TEST_COUNT_NEW
// Out of line, so the compiler never pairs an inlined free() with new.
__attribute__((noinline)) void* operator new(size_t size) {
  g_operator_new_calls.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#endif

namespace alts {
namespace {

constexpr size_t kSmall = 4096;

std::unique_ptr<BufferPool> MakePool(BufferPoolOptions options) {
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

BufferPoolOptions Small() {
  BufferPoolOptions o;
  o.buffer_size = kSmall;
  return o;
}

// The tests synchronise with std primitives only: ThreadSanitizer intercepts
// pthreads but cannot see inside an uninstrumented Abseil's Mutex.

// Event is a one-shot flag threads can wait on.
class Event {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// CountingWaiter records its wakeups: how many, in which global order, and on
// which thread.
std::atomic<int> g_wake_sequence{0};

class CountingWaiter final : public BufferWaiter {
 public:
  void OnBufferAvailable() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
    order_ = g_wake_sequence.fetch_add(1);
    thread_ = std::this_thread::get_id();
    cv_.notify_all();
  }

  int wakeups() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wakeups_;
  }
  int order() const {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }
  std::thread::id thread() const {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_;
  }
  // WaitFor returns true once at least `n` wakeups arrived, false on timeout.
  bool WaitFor(int n, absl::Duration timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [&] { return wakeups_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int wakeups_ = 0;
  int order_ = -1;
  std::thread::id thread_;
};

// --- Creation --------------------------------------------------------------

TEST(BufferPoolCreate, RejectsBadOptions) {
  auto expect_invalid = [](BufferPoolOptions o) {
    absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create(o);
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  };
  BufferPoolOptions o;
  o.buffer_size = 0;
  expect_invalid(o);
  o = {};
  o.buffer_size = kMaxPoolBufferSize + 1;
  expect_invalid(o);
  o = {};
  o.max_bytes_outstanding = o.buffer_size - 1;
  expect_invalid(o);
  o = {};
  o.thread_cache_buffers = kMaxThreadCacheBuffers + 1;
  expect_invalid(o);
  o = {};
  o.transfer_batch = 0;
  expect_invalid(o);
  o = {};
  o.thread_cache_buffers = 4;
  o.transfer_batch = 5;
  expect_invalid(o);
  o = {};
  o.idle_trim_after = absl::ZeroDuration();
  expect_invalid(o);
  o = {};
  o.idle_trim_after = -absl::Seconds(1);
  expect_invalid(o);
}

TEST(BufferPoolCreate, AcceptsEdgeOptions) {
  BufferPoolOptions o;
  o.buffer_size = kMaxPoolBufferSize;
  o.max_bytes_outstanding = kMaxPoolBufferSize;
  EXPECT_TRUE(BufferPool::Create(o).ok());
  o = {};
  o.buffer_size = 1;
  EXPECT_TRUE(BufferPool::Create(o).ok());
  o = {};
  o.thread_cache_buffers = 0;  // caches off: transfer_batch is unused
  o.transfer_batch = 0;
  EXPECT_TRUE(BufferPool::Create(o).ok());
  o = {};
  o.thread_cache_buffers = 1;
  o.transfer_batch = 1;
  EXPECT_TRUE(BufferPool::Create(o).ok());
}

TEST(BufferPoolCreate, BudgetRoundsDownToWholeBuffers) {
  BufferPoolOptions o = Small();
  o.max_bytes_outstanding = 2 * kSmall + kSmall / 2;
  auto pool = MakePool(o);
  EXPECT_EQ(pool->stats().max_buffers, 2u);
  EXPECT_EQ(MakePool(Small())->stats().max_buffers, 0u);
}

// --- Leases ----------------------------------------------------------------

TEST(BufferLease, IsTwoPointers) { EXPECT_EQ(sizeof(BufferLease), 16u); }

TEST(BufferLease, AcquireWriteRelease) {
  auto pool = MakePool(BufferPoolOptions{});
  BufferLease lease = pool->TryAcquire();
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease.size(), kDefaultReadBufferSize);
  EXPECT_EQ(lease.span().size(), kDefaultReadBufferSize);
  EXPECT_EQ(lease.span().data(), lease.data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(lease.data()) % kPoolBufferAlignment,
            0u);
  std::memset(lease.data(), 0xab, lease.size());  // the whole buffer is ours
  EXPECT_EQ(pool->stats().outstanding, 1u);
  lease.Reset();
  EXPECT_FALSE(lease);
  EXPECT_EQ(lease.data(), nullptr);
  EXPECT_EQ(lease.size(), 0u);
  EXPECT_TRUE(lease.span().empty());
  EXPECT_EQ(pool->stats().outstanding, 0u);
  lease.Reset();  // idempotent
}

TEST(BufferLease, OddSizeIsAlignedAndFullyUsable) {
  BufferPoolOptions o;
  o.buffer_size = 100;
  auto pool = MakePool(o);
  BufferLease a = pool->TryAcquire();
  BufferLease b = pool->TryAcquire();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kPoolBufferAlignment, 0u);
  std::memset(a.data(), 1, a.size());
  std::memset(b.data(), 2, b.size());
  EXPECT_EQ(a.data()[99], 1);
}

TEST(BufferLease, MoveTransfersOwnership) {
  auto pool = MakePool(Small());
  BufferLease a = pool->TryAcquire();
  uint8_t* p = a.data();
  BufferLease b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), p);
  BufferLease c = pool->TryAcquire();
  c = std::move(b);  // c's old buffer goes back
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(pool->stats().outstanding, 1u);
  BufferLease& alias = c;
  c = std::move(alias);  // self-move keeps the buffer
  EXPECT_EQ(c.data(), p);
  c = BufferLease();
  EXPECT_EQ(pool->stats().outstanding, 0u);
}

// --- Stats, caches and the depot -------------------------------------------

TEST(BufferPoolStats, ExactOnOneThread) {
  auto pool = MakePool(Small());
  std::vector<BufferLease> leases;
  for (int i = 0; i < 3; ++i) leases.push_back(pool->TryAcquire());
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.buffer_size, kSmall);
  EXPECT_EQ(s.allocated, 3u);
  EXPECT_EQ(s.outstanding, 3u);
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.depot, 0u);
  EXPECT_EQ(s.high_water_outstanding, 3u);
  EXPECT_EQ(s.allocations, 3u);
  std::set<uint8_t*> seen;
  for (auto& l : leases) seen.insert(l.data());
  leases.clear();
  s = pool->stats();
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 3u);
  EXPECT_EQ(s.allocated, 3u);
  ThreadCacheStats t = pool->thread_cache_stats();
  EXPECT_EQ(t.cached, 3u);
  EXPECT_EQ(t.capacity, 32u);
  EXPECT_EQ(t.misses, 3u);
  EXPECT_EQ(t.releases, 3u);
  // Reuse comes from the cache: same buffers, no allocation, lock-free hits.
  for (int i = 0; i < 3; ++i) {
    leases.push_back(pool->TryAcquire());
    EXPECT_EQ(seen.count(leases.back().data()), 1u);
  }
  s = pool->stats();
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.outstanding, 3u);
  EXPECT_EQ(s.high_water_outstanding, 3u);
  EXPECT_EQ(pool->thread_cache_stats().hits, 3u);
}

TEST(BufferPoolStats, CacheIsLifo) {
  auto pool = MakePool(Small());
  BufferLease a = pool->TryAcquire();
  BufferLease b = pool->TryAcquire();
  uint8_t* pb = b.data();
  a.Reset();
  b.Reset();
  // The most recently released (warmest) buffer comes back first.
  EXPECT_EQ(pool->TryAcquire().data(), pb);
}

TEST(BufferPoolCache, OverflowAndRefillMoveBatches) {
  BufferPoolOptions o = Small();
  o.thread_cache_buffers = 4;
  o.transfer_batch = 2;
  auto pool = MakePool(o);
  std::vector<BufferLease> leases;
  for (int i = 0; i < 6; ++i) leases.push_back(pool->TryAcquire());
  leases.clear();  // 4 fill the cache; the 5th flushes a batch of 2
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.cached_total, 4u);
  EXPECT_EQ(s.depot, 2u);
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(pool->thread_cache_stats().flushes, 1u);

  for (int i = 0; i < 4; ++i) leases.push_back(pool->TryAcquire());
  EXPECT_EQ(pool->thread_cache_stats().hits, 4u);
  // Empty cache: one buffer for the caller plus a batch remainder of 1.
  leases.push_back(pool->TryAcquire());
  s = pool->stats();
  EXPECT_EQ(s.depot, 0u);
  EXPECT_EQ(s.cached_total, 1u);
  EXPECT_EQ(s.outstanding, 5u);
  EXPECT_EQ(s.allocations, 6u);
  ThreadCacheStats t = pool->thread_cache_stats();
  EXPECT_EQ(t.refills, 1u);
  EXPECT_EQ(t.cached, 1u);
}

TEST(BufferPoolCache, DisabledCachesUseTheDepot) {
  BufferPoolOptions o = Small();
  o.thread_cache_buffers = 0;
  auto pool = MakePool(o);
  BufferLease a = pool->TryAcquire();
  uint8_t* p = a.data();
  a.Reset();
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.depot, 1u);
  EXPECT_EQ(pool->TryAcquire().data(), p);
  EXPECT_EQ(pool->thread_cache_stats().capacity, 0u);
  EXPECT_EQ(pool->thread_cache_stats().hits, 0u);
}

TEST(BufferPoolCache, SteadyStateAllocatesNothing) {
  if (!ALTS_POOL_TEST_COUNT_NEW) GTEST_SKIP() << "operator new not counted";
  auto pool = MakePool(Small());
  {
    std::vector<BufferLease> warm;  // two buffers in this thread's cache
    for (int i = 0; i < 2; ++i) warm.push_back(pool->TryAcquire());
  }
  CountingWaiter waiter;
  const uint64_t new_before = g_operator_new_calls.load();
  const uint64_t allocs_before = pool->stats().allocations;
  for (int i = 0; i < 10000; ++i) {
    BufferLease a = pool->TryAcquire();
    BufferLease b = pool->AcquireOrWait(&waiter);
    ASSERT_TRUE(a && b);
    a.data()[0] = static_cast<uint8_t>(i);
  }
  EXPECT_EQ(g_operator_new_calls.load(), new_before);
  EXPECT_EQ(pool->stats().allocations, allocs_before);
}

TEST(BufferPoolCache, QueueingAllocatesNothing) {
  if (!ALTS_POOL_TEST_COUNT_NEW) GTEST_SKIP() << "operator new not counted";
  BufferPoolOptions o = Small();
  o.max_bytes_outstanding = kSmall;
  auto pool = MakePool(o);
  BufferLease held = pool->TryAcquire();
  CountingWaiter w1, w2;
  const uint64_t new_before = g_operator_new_calls.load();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(pool->AcquireOrWait(&w1));
    EXPECT_FALSE(pool->AcquireOrWait(&w2));
    pool->CancelWait(&w1);
    pool->CancelWait(&w2);
  }
  EXPECT_EQ(g_operator_new_calls.load(), new_before);
}

// --- Threads ---------------------------------------------------------------

TEST(BufferPoolThreads, CrossThreadReturnGoesToReleasersCache) {
  auto pool = MakePool(Small());
  std::vector<BufferLease> leases;
  std::set<uint8_t*> addresses;
  for (int i = 0; i < 5; ++i) {
    leases.push_back(pool->TryAcquire());
    addresses.insert(leases.back().data());
  }
  Event dropped, may_exit;
  std::thread releaser([&] {
    leases.clear();  // released on this thread
    EXPECT_EQ(pool->thread_cache_stats().cached, 5u);
    EXPECT_EQ(pool->thread_cache_stats().releases, 5u);
    dropped.Notify();
    may_exit.Wait();
  });
  dropped.Wait();
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 5u);
  EXPECT_EQ(pool->thread_cache_stats().cached, 0u);
  may_exit.Notify();
  releaser.join();
  // The releaser's exit flushed its cache; this thread reuses the buffers.
  s = pool->stats();
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.depot, 5u);
  for (int i = 0; i < 5; ++i) {
    leases.push_back(pool->TryAcquire());
    EXPECT_EQ(addresses.count(leases.back().data()), 1u);
  }
  EXPECT_EQ(pool->stats().allocations, 5u);
}

TEST(BufferPoolThreads, ThreadExitFlushesCache) {
  auto pool = MakePool(Small());
  std::thread worker([&] {
    std::vector<BufferLease> leases;
    for (int i = 0; i < 10; ++i) leases.push_back(pool->TryAcquire());
    leases.clear();
    EXPECT_EQ(pool->thread_cache_stats().cached, 10u);
  });
  worker.join();
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.allocated, 10u);
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.depot, 10u);
}

TEST(BufferPoolThreads, LeaseOutlivingItsThreadIsReturnedLater) {
  auto pool = MakePool(Small());
  BufferLease kept;
  std::thread worker([&] { kept = pool->TryAcquire(); });
  worker.join();
  EXPECT_EQ(pool->stats().outstanding, 1u);
  kept.Reset();
  EXPECT_EQ(pool->stats().outstanding, 0u);
}

TEST(BufferPoolThreads, SeveralPoolsOnOneThread) {
  // More pools than a thread's fast slots, used interleaved.
  constexpr int kPools = 7;
  std::vector<std::unique_ptr<BufferPool>> pools;
  for (int i = 0; i < kPools; ++i) {
    BufferPoolOptions o;
    o.buffer_size = 64 * (i + 1);
    pools.push_back(MakePool(o));
  }
  for (int round = 0; round < 50; ++round) {
    std::vector<BufferLease> leases;
    for (int i = 0; i < kPools; ++i) {
      leases.push_back(pools[i]->TryAcquire());
      leases.push_back(pools[(i + round) % kPools]->TryAcquire());
    }
    for (int i = 0; i < kPools; ++i) {
      EXPECT_EQ(leases[2 * i].size(), 64u * (i + 1));
    }
  }
  for (int i = 0; i < kPools; ++i) {
    BufferPoolStats s = pools[i]->stats();
    EXPECT_EQ(s.outstanding, 0u);
    EXPECT_EQ(s.allocated, 2u);
    EXPECT_EQ(pools[i]->thread_cache_stats().cached, 2u);
  }
  // Destroying some pools leaves the others (and new ones) working.
  pools[1].reset();
  pools[4].reset();
  for (int i = 0; i < 3; ++i) {
    BufferPoolOptions o = Small();
    pools.push_back(MakePool(o));
  }
  for (auto& pool : pools) {
    if (pool == nullptr) continue;
    BufferLease a = pool->TryAcquire();
    ASSERT_TRUE(a);
    EXPECT_EQ(a.size(), pool->buffer_size());
  }
  for (auto& pool : pools) {
    if (pool != nullptr) {
      EXPECT_EQ(pool->stats().outstanding, 0u);
    }
  }
}

TEST(BufferPoolThreads, DestroyingPoolFreesOtherThreadsCaches) {
  auto doomed = MakePool(Small());
  auto survivor = MakePool(Small());
  Event cached, destroyed;
  std::thread worker([&] {
    for (int i = 0; i < 3; ++i) {
      BufferLease a = doomed->TryAcquire();
      BufferLease b = survivor->TryAcquire();
    }
    cached.Notify();
    destroyed.Wait();
    // The dead pool's cache entry on this thread must not be touched.
    BufferLease c = survivor->TryAcquire();
    EXPECT_TRUE(c);
    auto fresh = MakePool(Small());  // prunes the dead entry
    EXPECT_TRUE(fresh->TryAcquire());
  });
  cached.Wait();
  EXPECT_EQ(doomed->stats().cached_total, 1u);
  doomed.reset();  // frees the worker's cached buffer (LSan would see a leak)
  destroyed.Notify();
  worker.join();
  EXPECT_EQ(survivor->stats().outstanding, 0u);
  EXPECT_EQ(survivor->stats().depot, 1u);  // flushed at thread exit
}

// --- Budget and waiting ----------------------------------------------------

std::unique_ptr<BufferPool> BudgetPool(size_t buffers) {
  BufferPoolOptions o = Small();
  o.max_bytes_outstanding = buffers * kSmall;
  return MakePool(o);
}

TEST(BufferPoolBudget, TryAcquireFailsWhenExhausted) {
  auto pool = BudgetPool(2);
  BufferLease a = pool->TryAcquire();
  BufferLease b = pool->TryAcquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(pool->TryAcquire());
  EXPECT_FALSE(pool->AcquireOrWait(nullptr));
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.exhausted, 2u);
  EXPECT_EQ(s.allocated, 2u);
  EXPECT_EQ(s.waiters, 0u);
  a.Reset();
  EXPECT_TRUE(pool->TryAcquire());
}

TEST(BufferPoolBudget, ExhaustedAcquireStealsIdleThreadsCaches) {
  auto pool = BudgetPool(4);
  std::vector<BufferLease> leases;
  for (int i = 0; i < 4; ++i) leases.push_back(pool->TryAcquire());
  Event released, stolen;
  std::thread idle([&] {
    // Three go to this thread's cache; then the thread goes idle.
    for (int i = 0; i < 3; ++i) leases[i].Reset();
    released.Notify();
    stolen.Wait();
    EXPECT_EQ(pool->thread_cache_stats().cached, 0u);
    // The cache still works after being robbed.
    leases[3].Reset();
    EXPECT_TRUE(pool->TryAcquire());
  });
  released.Wait();
  EXPECT_EQ(pool->stats().cached_total, 3u);
  EXPECT_EQ(pool->stats().depot, 0u);
  // All four exist and none is in the depot, but three sit idle in the other
  // thread's cache: they are taken back instead of refusing.
  BufferLease a = pool->TryAcquire();
  EXPECT_TRUE(a);
  BufferLease b = pool->AcquireBlocking(absl::Seconds(10));
  EXPECT_TRUE(b);
  BufferLease c = pool->AcquireOrWait(nullptr);
  EXPECT_TRUE(c);
  EXPECT_FALSE(pool->TryAcquire());  // now the budget is really used up
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.steals, 3u);
  EXPECT_EQ(s.allocations, 4u);
  EXPECT_EQ(s.outstanding, 4u);
  stolen.Notify();
  idle.join();
  s = pool->stats();
  EXPECT_EQ(s.allocated, 4u);
  EXPECT_EQ(s.outstanding, 3u);
}

TEST(BufferPoolBudget, NoStealingWithoutBudget) {
  auto pool = MakePool(Small());
  Event cached, done;
  std::thread other([&] {
    { BufferLease a = pool->TryAcquire(); }
    cached.Notify();
    done.Wait();
    EXPECT_EQ(pool->thread_cache_stats().cached, 1u);
  });
  cached.Wait();
  EXPECT_TRUE(pool->TryAcquire());  // allocates a new buffer instead
  EXPECT_EQ(pool->stats().steals, 0u);
  EXPECT_EQ(pool->stats().allocations, 2u);
  done.Notify();
  other.join();
}

TEST(BufferPoolWait, NoBudgetNeverWaits) {
  auto pool = MakePool(Small());
  CountingWaiter w;
  std::vector<BufferLease> leases;
  for (int i = 0; i < 100; ++i) {
    leases.push_back(pool->AcquireOrWait(&w));
    ASSERT_TRUE(leases.back());
  }
  EXPECT_EQ(pool->stats().waiters, 0u);
}

TEST(BufferPoolWait, WakesFifoFromReleasingThread) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  CountingWaiter w1, w2, w3;
  EXPECT_FALSE(pool->AcquireOrWait(&w1));
  EXPECT_FALSE(pool->AcquireOrWait(&w2));
  EXPECT_FALSE(pool->AcquireOrWait(&w3));
  EXPECT_FALSE(pool->AcquireOrWait(&w1));  // already queued: keeps its place
  EXPECT_EQ(pool->stats().waiters, 3u);

  std::thread::id releaser_id;
  std::thread releaser([&] {
    releaser_id = std::this_thread::get_id();
    held.Reset();
  });
  releaser.join();
  ASSERT_TRUE(w1.WaitFor(1, absl::Seconds(10)));
  EXPECT_EQ(w1.thread(), releaser_id);  // called on the releasing thread
  EXPECT_EQ(w2.wakeups(), 0);           // one buffer, one wakeup
  EXPECT_EQ(w3.wakeups(), 0);
  EXPECT_EQ(pool->stats().waiters, 2u);

  // The woken waiter's claim is respected: a newcomer cannot take it.
  EXPECT_FALSE(pool->TryAcquire());
  EXPECT_EQ(w2.wakeups(), 0);
  BufferLease got1 = pool->AcquireOrWait(&w1);
  ASSERT_TRUE(got1);

  got1.Reset();  // next in line
  ASSERT_TRUE(w2.WaitFor(1, absl::Seconds(10)));
  EXPECT_EQ(w3.wakeups(), 0);
  BufferLease got2 = pool->AcquireOrWait(&w2);
  ASSERT_TRUE(got2);
  got2.Reset();
  ASSERT_TRUE(w3.WaitFor(1, absl::Seconds(10)));
  EXPECT_LT(w1.order(), w2.order());
  EXPECT_LT(w2.order(), w3.order());
  EXPECT_TRUE(pool->AcquireOrWait(&w3));
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.waiters, 0u);
  EXPECT_EQ(s.wakeups, 3u);
  EXPECT_EQ(s.outstanding, 0u);
}

TEST(BufferPoolWait, CancelWaitDequeues) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  CountingWaiter never_queued;
  pool->CancelWait(&never_queued);  // safe when not queued
  CountingWaiter w1, w2;
  EXPECT_FALSE(pool->AcquireOrWait(&w1));
  EXPECT_FALSE(pool->AcquireOrWait(&w2));
  pool->CancelWait(&w1);
  pool->CancelWait(&w1);  // twice is fine
  EXPECT_EQ(pool->stats().waiters, 1u);
  held.Reset();
  ASSERT_TRUE(w2.WaitFor(1, absl::Seconds(10)));
  EXPECT_EQ(w1.wakeups(), 0);
  EXPECT_TRUE(pool->AcquireOrWait(&w2));
}

TEST(BufferPoolWait, CancellingAWokenWaiterPassesTheWakeupOn) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  CountingWaiter w1, w2;
  EXPECT_FALSE(pool->AcquireOrWait(&w1));
  EXPECT_FALSE(pool->AcquireOrWait(&w2));
  held.Reset();
  ASSERT_TRUE(w1.WaitFor(1, absl::Seconds(10)));
  EXPECT_EQ(w2.wakeups(), 0);
  pool->CancelWait(&w1);  // w1 gave up: the buffer is w2's now
  ASSERT_TRUE(w2.WaitFor(1, absl::Seconds(10)));
  EXPECT_TRUE(pool->AcquireOrWait(&w2));
}

TEST(BufferPoolWait, DestroyedWaiterLeavesTheQueue) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  CountingWaiter w2;
  {
    CountingWaiter w1;
    EXPECT_FALSE(pool->AcquireOrWait(&w1));
    EXPECT_FALSE(pool->AcquireOrWait(&w2));
  }  // w1's base destructor cancels
  EXPECT_EQ(pool->stats().waiters, 1u);
  held.Reset();
  ASSERT_TRUE(w2.WaitFor(1, absl::Seconds(10)));
  EXPECT_TRUE(pool->AcquireOrWait(&w2));
}

TEST(BufferPoolWait, WokenWaitersClaimBlocksNewcomers) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  CountingWaiter w1, w2;
  EXPECT_FALSE(pool->AcquireOrWait(&w1));
  EXPECT_FALSE(pool->AcquireOrWait(&w2));
  held.Reset();
  ASSERT_TRUE(w1.WaitFor(1, absl::Seconds(10)));
  BufferLease got = pool->AcquireOrWait(&w1);
  ASSERT_TRUE(got);
  got.Reset();  // queued waiters exist: to the depot, waking w2
  ASSERT_TRUE(w2.WaitFor(1, absl::Seconds(10)));
  // w1 comes back while w2 holds the claim: it queues behind.
  EXPECT_FALSE(pool->AcquireOrWait(&w1));
  EXPECT_EQ(pool->stats().waiters, 1u);
  BufferLease got2 = pool->AcquireOrWait(&w2);
  ASSERT_TRUE(got2);
  got2.Reset();
  ASSERT_TRUE(w1.WaitFor(2, absl::Seconds(10)));
  EXPECT_TRUE(pool->AcquireOrWait(&w1));
  EXPECT_EQ(pool->stats().wakeups, 3u);
}

// BlockingCallbackWaiter blocks inside OnBufferAvailable until released.
class BlockingCallbackWaiter final : public BufferWaiter {
 public:
  void OnBufferAvailable() override {
    entered_.Notify();
    proceed_.Wait();
  }
  Event entered_;
  Event proceed_;
};

// WaitUntilThreadSleeps returns true once thread `tid` of this process is
// blocked (state S in /proc/self/task/<tid>/stat), false after `timeout`.
bool WaitUntilThreadSleeps(pid_t tid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  while (absl::Now() < deadline) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return false;
    char buf[512] = {};
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    // "tid (comm) S ...": the state follows the last ')'.
    const char* close = std::strrchr(buf, ')');
    if (n > 0 && close != nullptr && close[1] == ' ' && close[2] == 'S') return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(BufferPoolWait, CancelWaitWaitsForCallbackInFlight) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  BlockingCallbackWaiter w;
  EXPECT_FALSE(pool->AcquireOrWait(&w));
  std::thread releaser([&] { held.Reset(); });
  w.entered_.Wait();
  std::atomic<bool> cancel_returned{false};
  std::atomic<pid_t> canceller_tid{0};
  std::thread canceller([&] {
    canceller_tid = static_cast<pid_t>(syscall(SYS_gettid));
    pool->CancelWait(&w);
    cancel_returned = true;
  });
  // Wait until the canceller is asleep: the only place it can block is
  // inside CancelWait, waiting for the callback in flight.
  while (canceller_tid.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(WaitUntilThreadSleeps(canceller_tid.load(), absl::Seconds(30)));
  EXPECT_FALSE(cancel_returned.load());
  w.proceed_.Notify();
  canceller.join();
  EXPECT_TRUE(cancel_returned.load());
  releaser.join();
  EXPECT_EQ(pool->stats().waiters, 0u);
  EXPECT_TRUE(pool->TryAcquire());  // the wakeup was dropped, not leaked
}

// SelfCancellingWaiter cancels itself from inside its callback.
class SelfCancellingWaiter final : public BufferWaiter {
 public:
  explicit SelfCancellingWaiter(BufferPool* pool) : pool_(pool) {}
  void OnBufferAvailable() override {
    pool_->CancelWait(this);  // must not deadlock
    called_ = true;
  }
  BufferPool* pool_;
  bool called_ = false;
};

TEST(BufferPoolWait, CancelWaitFromOwnCallback) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  SelfCancellingWaiter w(pool.get());
  EXPECT_FALSE(pool->AcquireOrWait(&w));
  held.Reset();  // wakes w on this thread
  EXPECT_TRUE(w.called_);
  EXPECT_TRUE(pool->TryAcquire());
}

TEST(BufferPoolWait, AcquireBlockingTimesOut) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  const absl::Time start = absl::Now();
  BufferLease none = pool->AcquireBlocking(absl::Milliseconds(50));
  EXPECT_FALSE(none);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(49));
  EXPECT_FALSE(pool->AcquireBlocking(absl::ZeroDuration()));
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.waiters, 0u);
  held.Reset();
  EXPECT_TRUE(pool->AcquireBlocking(absl::Milliseconds(50)));
}

TEST(BufferPoolWait, AcquireBlockingWakesOnRelease) {
  auto pool = BudgetPool(1);
  BufferLease held = pool->TryAcquire();
  uint8_t* p = held.data();
  std::thread releaser([&] {
    // Release only once the acquirer is parked in AcquireBlocking, so the
    // wakeup is what the test sees (not a buffer already back).
    while (pool->stats().waiters == 0) std::this_thread::yield();
    held.Reset();
  });
  const absl::Time start = absl::Now();
  BufferLease got = pool->AcquireBlocking(absl::Seconds(30));
  ASSERT_TRUE(got);
  EXPECT_EQ(got.data(), p);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  releaser.join();
  EXPECT_EQ(pool->stats().waiters, 0u);
}

// --- Trimming ----------------------------------------------------------------

TEST(BufferPoolTrim, FreesDepotAndOwnCacheOnly) {
  BufferPoolOptions o = Small();
  o.thread_cache_buffers = 4;
  o.transfer_batch = 2;
  auto pool = MakePool(o);
  {
    std::vector<BufferLease> leases;
    for (int i = 0; i < 6; ++i) leases.push_back(pool->TryAcquire());
  }  // cache 4, depot 2
  Event cached, trimmed;
  std::thread other([&] {
    // Refills a batch of 2 from the depot; both end up in this cache.
    { BufferLease a = pool->TryAcquire(); }
    cached.Notify();
    trimmed.Wait();
  });
  cached.Wait();
  BufferPoolStats s = pool->stats();
  ASSERT_EQ(s.cached_total, 6u);
  ASSERT_EQ(s.depot, 0u);
  ASSERT_EQ(pool->thread_cache_stats().cached, 4u);
  EXPECT_EQ(pool->Trim(), 4u);  // this thread's cache
  s = pool->stats();
  EXPECT_EQ(s.allocated, 2u);
  EXPECT_EQ(s.cached_total, 2u);  // the other thread's cache is untouched
  EXPECT_EQ(s.depot, 0u);
  EXPECT_EQ(s.trims, 1u);
  EXPECT_EQ(s.freed, 4u);
  EXPECT_EQ(pool->Trim(), 0u);
  EXPECT_EQ(pool->stats().trims, 1u);  // nothing freed, not counted
  trimmed.Notify();
  other.join();
  EXPECT_EQ(pool->stats().depot, 2u);  // flushed at thread exit
  EXPECT_EQ(pool->Trim(), 2u);
  EXPECT_EQ(pool->stats().allocated, 0u);
  // Steady state resumes: buffers come back on demand.
  EXPECT_TRUE(pool->TryAcquire());
}

TEST(BufferPoolTrim, NoIdlePolicyKeepsBuffers) {
  auto pool = MakePool(Small());
  { BufferLease a = pool->TryAcquire(); }
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);
  EXPECT_EQ(pool->stats().allocated, 1u);
}

// FakeClock is a BufferPoolClock that moves only when the test says so.
class FakeClock final : public BufferPoolClock {
 public:
  int64_t NowNs() const override { return now_ns_.load(std::memory_order_relaxed); }
  void Advance(absl::Duration d) {
    now_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> now_ns_{1'000'000'000};
};

TEST(BufferPoolTrim, IdlePolicyFreesIdleDepotBuffers) {
  FakeClock clock;
  BufferPoolOptions o = Small();
  o.thread_cache_buffers = 0;
  o.idle_trim_after = absl::Milliseconds(100);
  o.clock = &clock;
  auto pool = MakePool(o);
  {
    std::vector<BufferLease> leases;
    for (int i = 0; i < 4; ++i) leases.push_back(pool->TryAcquire());
  }
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);  // fresh
  EXPECT_EQ(pool->stats().depot, 4u);
  clock.Advance(absl::Milliseconds(99));
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);  // not idle long enough yet
  EXPECT_EQ(pool->stats().depot, 4u);
  clock.Advance(absl::Milliseconds(1));
  // A recently used buffer survives; the 3 left idle are freed.
  BufferLease a = pool->TryAcquire();
  EXPECT_EQ(pool->stats().allocated, 1u);  // lazily trimmed by the acquire
  a.Reset();
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);
  clock.Advance(absl::Milliseconds(100));
  EXPECT_EQ(pool->MaybeTrimIdle(), 1u);
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.freed, 4u);
  EXPECT_EQ(s.trims, 2u);
}

TEST(BufferPoolTrim, IdlePolicyFreesAnIdleThreadCache) {
  FakeClock clock;
  BufferPoolOptions o = Small();
  o.idle_trim_after = absl::Milliseconds(100);
  o.clock = &clock;
  auto pool = MakePool(o);
  {
    std::vector<BufferLease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(pool->TryAcquire());
  }
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);  // traffic since the last check
  EXPECT_EQ(pool->thread_cache_stats().cached, 3u);
  clock.Advance(absl::Milliseconds(99));
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);  // idle, but not for long enough
  EXPECT_EQ(pool->thread_cache_stats().cached, 3u);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(pool->MaybeTrimIdle(), 3u);  // no traffic for 100 ms
  EXPECT_EQ(pool->thread_cache_stats().cached, 0u);
  EXPECT_EQ(pool->stats().allocated, 0u);
  EXPECT_TRUE(pool->TryAcquire());
}

TEST(BufferPoolTrim, TrafficRestartsTheThreadCacheIdleWindow) {
  FakeClock clock;
  BufferPoolOptions o = Small();
  o.idle_trim_after = absl::Milliseconds(100);
  o.clock = &clock;
  auto pool = MakePool(o);
  { BufferLease a = pool->TryAcquire(); }
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);
  clock.Advance(absl::Milliseconds(90));
  { BufferLease a = pool->TryAcquire(); }  // traffic inside the window
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);   // the window starts again here
  clock.Advance(absl::Milliseconds(90));
  EXPECT_EQ(pool->MaybeTrimIdle(), 0u);   // 180 ms since the first check, 90 idle
  clock.Advance(absl::Milliseconds(10));
  EXPECT_EQ(pool->MaybeTrimIdle(), 1u);
}

// --- Hammer ----------------------------------------------------------------

// LeaseQueue hands leases between threads.
class LeaseQueue {
 public:
  // Push queues `lease`; beyond `max` queued it returns the oldest one, for
  // the caller to release (under a budget, parked leases must stay few).
  BufferLease Push(BufferLease lease, size_t max) {
    std::lock_guard<std::mutex> lock(mu_);
    q_.push_back(std::move(lease));
    if (q_.size() <= max) return BufferLease();
    BufferLease oldest = std::move(q_.front());
    q_.pop_front();
    return oldest;
  }
  BufferLease Pop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (q_.empty()) return BufferLease();
    BufferLease lease = std::move(q_.front());
    q_.pop_front();
    return lease;
  }

 private:
  std::mutex mu_;
  std::deque<BufferLease> q_;  // guarded by mu_
};

void Stamp(BufferLease& lease, uint8_t tag) {
  lease.data()[0] = tag;
  lease.data()[lease.size() - 1] = tag;
}
void ExpectStamp(const BufferLease& lease, uint8_t tag) {
  EXPECT_EQ(lease.data()[0], tag);
  EXPECT_EQ(lease.data()[lease.size() - 1], tag);
}

void Hammer(BufferPool* pool, bool budget) {
  constexpr int kThreads = 4;
#if defined(ALTS_SANITIZER_BUILD)
  constexpr int kIterations = 5000;
#else
  constexpr int kIterations = 40000;
#endif
  LeaseQueue handoff;
  Event go;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.Wait();
      uint32_t rng = 12345u + t;
      auto next = [&rng] {
        rng = rng * 1664525u + 1013904223u;
        return rng >> 8;
      };
      for (int i = 0; i < kIterations; ++i) {
        const uint8_t tag = static_cast<uint8_t>(next());
        BufferLease a = budget ? pool->AcquireBlocking(absl::Seconds(30))
                               : pool->TryAcquire();
        ASSERT_TRUE(a);
        Stamp(a, tag);
        switch (next() % 4) {
          case 0: {
            // Someone else releases it (or we release someone else's).
            BufferLease evicted = handoff.Push(std::move(a), budget ? 2 : 64);
            break;
          }
          case 1: {
            BufferLease other = handoff.Pop();  // release another's lease
            break;
          }
          case 2:
            if (!budget) {
              BufferLease b = pool->TryAcquire();
              ASSERT_TRUE(b);
              Stamp(b, tag ^ 0xff);
              ExpectStamp(a, tag);
            }
            break;
          default:
            break;
        }
        if (a) ExpectStamp(a, tag);
        // Interleave the threads even when they get a core each rarely.
        if (i % 32 == 0) std::this_thread::yield();
      }
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();
  // Drain on a thread that then exits, so every cache ends up flushed.
  std::thread([&] {
    while (handoff.Pop()) {
    }
  }).join();
}

TEST(BufferPoolHammer, FourThreadsExactFinalStats) {
  BufferPoolOptions o = Small();
  o.thread_cache_buffers = 8;
  o.transfer_batch = 3;
  auto pool = MakePool(o);
  Hammer(pool.get(), /*budget=*/false);
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 0u);  // every thread exited and flushed
  EXPECT_EQ(s.depot, s.allocated);
  EXPECT_EQ(s.waiters, 0u);
  EXPECT_GE(s.high_water_outstanding, 1u);
  EXPECT_EQ(pool->thread_cache_stats().cached, 0u);
}

TEST(BufferPoolHammer, FourThreadsUnderBudget) {
  constexpr size_t kBudget = 3;
  BufferPoolOptions o = Small();
  o.max_bytes_outstanding = kBudget * kSmall;
  o.thread_cache_buffers = 4;
  o.transfer_batch = 2;
  auto pool = MakePool(o);
  Hammer(pool.get(), /*budget=*/true);
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.waiters, 0u);
  EXPECT_LE(s.allocated, kBudget);
  EXPECT_LE(s.allocations, kBudget);  // never freed, so never re-allocated
  EXPECT_LE(s.high_water_outstanding, kBudget);
}

// AsyncReader mimics a reactor connection: on a wakeup it retries on its own
// thread.
class AsyncReader final : public BufferWaiter {
 public:
  void OnBufferAvailable() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_one();
  }
  bool WaitWoken(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                                 [this] { return woken_; });
    woken_ = false;
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;  // guarded by mu_
};

TEST(BufferPoolHammer, AsyncReadersNeverStall) {
  constexpr int kThreads = 4;
  constexpr size_t kBudget = 2;
#if defined(ALTS_SANITIZER_BUILD)
  constexpr int kIterations = 2000;
#else
  constexpr int kIterations = 10000;
#endif
  BufferPoolOptions o = Small();
  o.max_bytes_outstanding = kBudget * kSmall;
  auto pool = MakePool(o);
  std::atomic<int> stalls{0};
  Event go;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AsyncReader reader;
      go.Wait();
      for (int i = 0; i < kIterations; ++i) {
        BufferLease lease = pool->AcquireOrWait(&reader);
        while (!lease) {
          if (!reader.WaitWoken(absl::Seconds(20))) {
            ++stalls;
            pool->CancelWait(&reader);
            return;
          }
          lease = pool->AcquireOrWait(&reader);
        }
        // Hold the buffer for a while, as a reader decrypting would, and
        // now and then let the others run into the budget meanwhile.
        std::memset(lease.data(), t, lease.size());
        if (i % 16 == 0) std::this_thread::yield();
        ExpectStamp(lease, static_cast<uint8_t>(t));
      }
      pool->CancelWait(&reader);
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(stalls.load(), 0);
  BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(s.cached_total, 0u);
  EXPECT_EQ(s.waiters, 0u);
  EXPECT_LE(s.allocated, kBudget);
  EXPECT_LE(s.high_water_outstanding, kBudget);
}

#if !defined(NDEBUG) && GTEST_HAS_DEATH_TEST
TEST(BufferPoolDeathTest, DestroyingPoolWithLeaseOutstanding) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto pool = MakePool(Small());
        BufferLease lease = pool->TryAcquire();
        pool.reset();
        lease = BufferLease();
      },
      "leases outstanding");
}
#endif

}  // namespace
}  // namespace alts
