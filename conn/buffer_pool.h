#ifndef ALTS_CONN_BUFFER_POOL_H_
#define ALTS_CONN_BUFFER_POOL_H_

// A process-wide pool of fixed-size read buffers for on-demand reading: an
// idle connection holds no buffer; when its fd becomes readable it leases one,
// decrypts frames in place, delivers the plaintext and drops the lease.
//
// Layout: each thread has a small cache per pool (a thread_local array, no
// lock on the common get/put), backed by a shared depot guarded by a mutex.
// Buffers move between a thread cache and the depot `transfer_batch` at a
// time. A buffer released on another thread goes into that thread's cache
// (push model), so handing leases across threads costs one depot round trip
// per batch.
//
// Budget: `max_bytes_outstanding` bounds the memory of every buffer that
// exists (leased, in a thread cache or in the depot): the count of buffers is
// checked under the depot mutex before each allocation, so it is exact. For
// the budget, "outstanding" therefore means "not in the depot". A thread that
// finds the budget exhausted steals the idle buffers of other threads' caches
// before giving up, so a buffer is never stranded in the cache of an idle
// thread; to make that safe, caches of a budgeted pool are pushed and popped
// with one uncontended compare-and-swap (pools without a budget use plain
// loads and stores). While readers are queued every release goes straight to
// the depot and wakes the first of them.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace alts {

class BufferPool;

namespace buffer_pool_internal {
struct ThreadCache;
struct ThreadCacheSet;
struct InFlightWake;
}  // namespace buffer_pool_internal

// kDefaultReadBufferSize is two maximum-size frames of the largest frame size
// peers commonly negotiate (16 KiB), so one read can complete a frame that
// straddles the previous read.
inline constexpr size_t kDefaultReadBufferSize = 32 * 1024;
// kMaxPoolBufferSize bounds buffer_size: larger buffers would pin megabytes
// per connection and defeat on-demand reading.
inline constexpr size_t kMaxPoolBufferSize = 16 * 1024 * 1024;
// kMaxThreadCacheBuffers bounds thread_cache_buffers: buffers in a thread
// cache are invisible to other threads, so a big cache strands memory.
inline constexpr size_t kMaxThreadCacheBuffers = 1024;
// kPoolBufferAlignment is the alignment of every buffer: a cache line, so
// in-place decryption never shares a line with another buffer.
inline constexpr size_t kPoolBufferAlignment = 64;

// BufferPoolClock tells a pool the time for its idle-trim policy
// (BufferPoolOptions::idle_trim_after), so tests can move time by hand
// instead of sleeping. NowNs must never go backwards and must be safe to
// call from any thread.
class BufferPoolClock {
 public:
  virtual ~BufferPoolClock() = default;
  // NowNs returns the current time in nanoseconds from any fixed epoch.
  virtual int64_t NowNs() const = 0;
};

// BufferPoolOptions configures a BufferPool; BufferPool::Create validates it.
struct BufferPoolOptions {
  // Size of every buffer in bytes, in [1, kMaxPoolBufferSize].
  size_t buffer_size = kDefaultReadBufferSize;
  // Upper bound on the memory of all buffers that exist, in bytes; 0 means
  // no budget. Must be at least buffer_size when set. The pool holds at most
  // max_bytes_outstanding / buffer_size buffers.
  size_t max_bytes_outstanding = 0;
  // Per-thread cache capacity in buffers, at most kMaxThreadCacheBuffers;
  // 0 disables thread caches (every get/put takes the depot mutex).
  size_t thread_cache_buffers = 32;
  // Buffers moved between a thread cache and the depot at once, in
  // [1, thread_cache_buffers] when caches are enabled.
  size_t transfer_batch = 8;
  // Optional shrinking policy: buffers unused for this long are freed (see
  // BufferPool::MaybeTrimIdle). InfiniteDuration() keeps buffers forever.
  absl::Duration idle_trim_after = absl::InfiniteDuration();
  // Optional clock for idle_trim_after; nullptr means the steady clock. It
  // must outlive the pool.
  const BufferPoolClock* clock = nullptr;
};

// BufferPoolStats is a snapshot of a pool's counters. Counts kept by other
// threads' caches may be slightly stale while those threads run; they are
// exact once the threads are quiescent (joined or otherwise synchronised with
// the caller).
struct BufferPoolStats {
  // Size of every buffer in bytes.
  size_t buffer_size = 0;
  // Most buffers the budget allows to exist; 0 when there is no budget.
  size_t max_buffers = 0;
  // Buffers that exist now (leased + cached_total + depot).
  size_t allocated = 0;
  // Buffers leased now.
  size_t outstanding = 0;
  // Buffers sitting in thread caches, summed over all threads.
  size_t cached_total = 0;
  // Buffers in the shared depot.
  size_t depot = 0;
  // Most buffers ever out of the depot at once (leased or in thread caches),
  // sampled whenever a buffer leaves the depot or is allocated. It is an
  // upper bound on the peak number of leases, exact on a single thread.
  size_t high_water_outstanding = 0;
  // Asynchronous readers queued in AcquireOrWait.
  size_t waiters = 0;
  // Buffers allocated over the pool's life.
  uint64_t allocations = 0;
  // Acquires refused because the budget was exhausted.
  uint64_t exhausted = 0;
  // OnBufferAvailable calls made.
  uint64_t wakeups = 0;
  // Idle buffers taken back from other threads' caches for a thread that
  // found the budget exhausted.
  uint64_t steals = 0;
  // Trim/MaybeTrimIdle calls and lazy idle checks that freed buffers.
  uint64_t trims = 0;
  // Buffers freed by trimming.
  uint64_t freed = 0;
};

// ThreadCacheStats describes the calling thread's cache for one pool.
struct ThreadCacheStats {
  // Buffers in this thread's cache now.
  size_t cached = 0;
  // The cache's capacity (BufferPoolOptions::thread_cache_buffers).
  size_t capacity = 0;
  // Acquires served from the cache without a lock.
  uint64_t hits = 0;
  // Acquires that had to go to the depot or the allocator.
  uint64_t misses = 0;
  // Releases put into the cache without a lock.
  uint64_t releases = 0;
  // Batches taken from the depot into the cache.
  uint64_t refills = 0;
  // Times the cache gave buffers back to the depot.
  uint64_t flushes = 0;
};

// BufferLease is a move-only handle to one pool buffer. The buffer returns to
// its pool when the lease is destroyed or Reset(), on whatever thread that
// happens. The memory is uninitialized when leased and its contents are not
// wiped on return (these are I/O buffers, not key material). An empty
// (default or moved-from) lease owns nothing. The pool must outlive every
// lease it hands out. A lease may be stored inside the buffer it owns (Reset
// and the destructor touch nothing after returning it).
class BufferLease {
 public:
  // BufferLease() is an empty lease.
  BufferLease() = default;
  BufferLease(BufferLease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)),
        data_(std::exchange(other.data_, nullptr)) {}
  BufferLease& operator=(BufferLease&& other) noexcept {
    if (this != &other) {
      Reset();
      pool_ = std::exchange(other.pool_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  BufferLease(const BufferLease&) = delete;
  BufferLease& operator=(const BufferLease&) = delete;
  ~BufferLease() { Reset(); }

  // span returns the whole buffer; empty for an empty lease.
  absl::Span<uint8_t> span() const {
    return absl::Span<uint8_t>(data_, size());
  }
  // data returns the buffer's first byte; nullptr for an empty lease.
  uint8_t* data() const { return data_; }
  // size returns the buffer size in bytes; 0 for an empty lease.
  size_t size() const;
  // operator bool reports whether the lease holds a buffer.
  explicit operator bool() const { return data_ != nullptr; }
  // Reset returns the buffer to its pool now; the lease becomes empty.
  inline void Reset();

 private:
  friend class BufferPool;
  BufferLease(BufferPool* pool, uint8_t* data) : pool_(pool), data_(data) {}

  BufferPool* pool_ = nullptr;
  uint8_t* data_ = nullptr;
};

// BufferWaiter is the callback interface of an asynchronous reader waiting
// for a buffer (see BufferPool::AcquireOrWait). It carries the intrusive
// queue hooks, so queueing allocates nothing. A waiter waits on at most one
// pool at a time. Call BufferPool::CancelWait before the waiter dies (in the
// derived class's destructor): it also waits out an OnBufferAvailable call
// running on another thread.
class BufferWaiter {
 public:
  // OnBufferAvailable is called once per wakeup, on the thread that returned
  // a buffer and outside every pool lock. It must only schedule work (for
  // example event_active() on the reader's event) and return: the reader then
  // calls AcquireOrWait again on its own thread. It must not create or
  // destroy pools.
  //
  // Being woken does not reserve a particular buffer and the retry may still
  // return an empty lease (the waiter is then queued again, at the head).
  // But the pool counts the wakeup as a claim that other acquirers respect,
  // so the woken waiter must soon either call AcquireOrWait (which spends
  // the claim) or CancelWait (which passes it to the next waiter); a woken
  // waiter that does neither holds up one buffer's worth of the budget.
  virtual void OnBufferAvailable() = 0;

 protected:
  BufferWaiter() = default;
  BufferWaiter(const BufferWaiter&) = delete;
  BufferWaiter& operator=(const BufferWaiter&) = delete;
  // ~BufferWaiter cancels a wait the derived class forgot to cancel, so the
  // queue never keeps a dangling waiter and a wakeup is never lost. It runs
  // after the derived part is destroyed, which is why CancelWait must come
  // first whenever another thread may be notifying this waiter.
  ~BufferWaiter();

 private:
  friend class BufferPool;
  // State values; written under the owning pool's mutex, read without it
  // only by the waiter's own thread.
  enum : uint8_t { kIdle = 0, kQueued = 1, kWoken = 2 };

  std::atomic<uint8_t> state_{kIdle};
  // The pool whose queue holds this waiter or which woke it; nullptr exactly
  // when state_ is kIdle. Written only on calls made by the waiter's owner.
  BufferPool* pool_ = nullptr;
  BufferWaiter* prev_ = nullptr;
  BufferWaiter* next_ = nullptr;
};

// BufferPool hands out fixed-size, 64-byte aligned buffers (see the file
// comment for the design). Thread-safe. The pool must outlive every lease,
// every queued waiter and every thread-local use; destroying it with leases
// outstanding or waiters queued is a programming error (checked in debug
// builds). Buffers in other threads' caches are freed by the destructor.
class BufferPool {
 public:
  // Create validates `options` and builds an empty pool (no buffer is
  // allocated until the first acquire). Returns kInvalidArgument for a
  // buffer_size of 0 or above kMaxPoolBufferSize, a budget smaller than one
  // buffer, a cache larger than kMaxThreadCacheBuffers, a transfer_batch of 0
  // or larger than the cache, or a non-positive idle_trim_after.
  static absl::StatusOr<std::unique_ptr<BufferPool>> Create(
      BufferPoolOptions options = {});

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  // ~BufferPool frees every buffer, including those in other threads'
  // caches. No lease may be outstanding and no waiter queued.
  ~BufferPool();

  // TryAcquire returns a lease, or an empty lease if the budget is exhausted
  // (or memory allocation failed). The common case is a lock-free pop from
  // the calling thread's cache.
  BufferLease TryAcquire();

  // AcquireOrWait returns a lease, or, if none is available, queues `w`
  // (FIFO, no allocation) and returns an empty lease. When a buffer comes
  // back and the pool has one to give, the first queued waiter is dequeued
  // and its OnBufferAvailable() runs on the releasing thread; the waiter then
  // calls AcquireOrWait again. Calling it while `w` is already queued keeps
  // its place. A null `w` behaves like TryAcquire.
  BufferLease AcquireOrWait(BufferWaiter* w);

  // CancelWait removes `w` from the queue and drops any wakeup it has not
  // acted on (passing it to the next waiter). Safe if `w` is not queued. If
  // another thread is inside w->OnBufferAvailable(), it blocks until that
  // call returns, so the caller may destroy `w` afterwards.
  void CancelWait(BufferWaiter* w);

  // AcquireBlocking returns a lease, waiting up to `timeout` for one to be
  // returned; an empty lease on timeout. For blocking callers only: it parks
  // the calling thread.
  BufferLease AcquireBlocking(absl::Duration timeout);

  // Trim frees every buffer in the depot and in the calling thread's cache
  // and returns how many it freed. Buffers leased or cached by other threads
  // are untouched.
  size_t Trim();

  // MaybeTrimIdle applies the idle_trim_after policy now: it frees depot
  // buffers unused for that long, and the calling thread's cache if it saw
  // no traffic since the previous MaybeTrimIdle call on this thread at least
  // idle_trim_after ago. Returns the number of buffers freed; 0 without an
  // idle policy. Meant for a reactor timer; depot operations also apply the
  // depot part lazily.
  size_t MaybeTrimIdle();

  // stats returns the pool's counters (see BufferPoolStats).
  BufferPoolStats stats() const;

  // thread_cache_stats returns the calling thread's cache counters for this
  // pool; all zero but capacity if this thread never used the pool.
  ThreadCacheStats thread_cache_stats() const;

  // buffer_size returns the size of every buffer in bytes.
  size_t buffer_size() const { return buffer_size_; }

  // options returns the options the pool was created with.
  const BufferPoolOptions& options() const { return options_; }

 private:
  friend class BufferLease;
  friend struct buffer_pool_internal::ThreadCacheSet;
  using ThreadCache = buffer_pool_internal::ThreadCache;
  using InFlightWake = buffer_pool_internal::InFlightWake;

  // DepotEntry is one idle buffer and when it entered the depot.
  struct DepotEntry {
    uint8_t* buf;
    int64_t since_ns;  // steady-clock nanoseconds; 0 without an idle policy
  };

  explicit BufferPool(const BufferPoolOptions& options);

  // Release returns `buf` (leased from this pool) on the calling thread.
  void Release(uint8_t* buf);

  BufferLease AcquireSlow(ThreadCache* cache, BufferWaiter* w);
  void ReleaseSlow(ThreadCache* cache, uint8_t* buf);
  ThreadCache* LocalCache();
  ThreadCache* LocalCacheSlow();
  ThreadCache* FindLocalCache() const;
  // WakeWaiters notifies queued waiters while the pool has unclaimed buffers
  // to give. Must be called without mu_ held.
  void WakeWaiters();
  // DetachCache flushes a cache of an exiting thread into the depot and
  // deletes it.
  void DetachCache(ThreadCache* cache);
  int64_t NowNs() const;

  // The *Locked helpers require mu_.
  size_t AvailableLocked() const;
  bool ShouldWakeLocked() const;
  void PushDepotLocked(uint8_t* buf, int64_t now_ns);
  void FreeLocked(uint8_t* buf);
  size_t TrimIdleDepotLocked(int64_t now_ns);
  void NoteTrimLocked(size_t freed);
  void FlushCacheLocked(ThreadCache* cache, int64_t now_ns);
  void EnqueueLocked(BufferWaiter* w, bool at_head);
  void UnlinkLocked(BufferWaiter* w);
  void SetPressureLocked(bool bump_epoch);
  bool WakeInFlightElsewhereLocked(const BufferWaiter* w) const;
  // StealLocked moves every idle buffer in other threads' caches (not `own`)
  // to the depot and returns how many it moved.
  size_t StealLocked(const ThreadCache* own, int64_t now_ns);

  // Read-mostly fields the lock-free paths touch, on their own cache line.
  // pressure_ is (epoch << 1) | waiters-queued; a thread cache that has not
  // seen the current value sends its next release through the depot. It is
  // written only under mu_.
  alignas(64) std::atomic<uint64_t> pressure_{0};
  const uint64_t id_;
  const size_t buffer_size_;
  const size_t alloc_size_;
  const uint32_t cache_capacity_;
  const uint32_t transfer_batch_;
  const size_t max_buffers_;  // SIZE_MAX without a budget
  // With a budget, idle buffers in thread caches may be stolen by other
  // threads, so caches are pushed and popped with a compare-and-swap.
  const bool stealable_;
  const int64_t idle_ns_;  // 0 without an idle policy
  const BufferPoolOptions options_;

  // Depot, accounting and the waiter queue; everything below is guarded by
  // mu_. A std::mutex rather than absl::Mutex so ThreadSanitizer, which
  // intercepts pthreads, sees the synchronisation without an instrumented
  // Abseil.
  alignas(64) mutable std::mutex mu_;
  std::vector<DepotEntry> depot_;
  std::vector<ThreadCache*> caches_;
  size_t allocated_ = 0;
  size_t high_water_ = 0;
  uint64_t allocations_ = 0;
  uint64_t exhausted_ = 0;
  uint64_t wakeups_ = 0;
  uint64_t steals_ = 0;
  uint64_t trims_ = 0;
  uint64_t freed_ = 0;
  BufferWaiter* waiters_head_ = nullptr;
  BufferWaiter* waiters_tail_ = nullptr;
  size_t waiter_count_ = 0;
  // Woken waiters that have not yet retried or cancelled; each holds a claim
  // on one available buffer that newcomers may not take.
  size_t pending_wakeups_ = 0;
  // OnBufferAvailable calls in progress (records on the notifiers' stacks).
  InFlightWake* in_flight_ = nullptr;
  // Notified whenever an OnBufferAvailable call finishes or an exiting
  // thread unpins the pool.
  std::condition_variable cv_;
  // Exiting threads currently flushing into this pool.
  int pins_ = 0;
};

inline size_t BufferLease::size() const {
  return data_ == nullptr ? 0 : pool_->buffer_size();
}

inline void BufferLease::Reset() {
  if (data_ != nullptr) {
    // Clear the handle before releasing: the lease may live inside the very
    // buffer it owns, which another thread can reuse once it is released.
    BufferPool* pool = std::exchange(pool_, nullptr);
    pool->Release(std::exchange(data_, nullptr));
  }
}

}  // namespace alts

#endif  // ALTS_CONN_BUFFER_POOL_H_
