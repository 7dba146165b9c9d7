#include "conn/buffer_pool.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#ifdef ABSL_HAVE_ADDRESS_SANITIZER
#include <sanitizer/asan_interface.h>
#endif

namespace alts {
namespace buffer_pool_internal {

// ThreadCache is one thread's stack of idle buffers for one pool. Only the
// owning thread pushes and pops. In a pool without a budget nobody else ever
// takes from it, so the owner uses plain (relaxed) loads and stores; `count`
// is atomic only so stats() may read it. In a pool with a budget, a thread
// that finds the budget exhausted steals idle buffers from other threads'
// caches (under the pool mutex), so the owner pushes and pops with an
// uncontended compare-and-swap on `count` (see StealLocked). The object is
// owned by the pool: it is deleted when its thread exits (after flushing) or
// when the pool is destroyed, whichever comes first.
struct ThreadCache {
  // count while a stealer is reading bufs; the owner then takes the slow
  // path, which waits for the stealer's mutex.
  static constexpr uint32_t kStealing = std::numeric_limits<uint32_t>::max();

  explicit ThreadCache(uint32_t cap) : capacity(cap), bufs(new uint8_t*[cap]) {}

  const uint32_t capacity;
  std::atomic<uint32_t> count{0};
  // The pool's pressure_ value (waiters bit clear) this cache last acted on.
  uint64_t seen_pressure = 0;
  const std::unique_ptr<uint8_t*[]> bufs;
  // Owner-thread-only counters.
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t releases = 0;
  uint64_t refills = 0;
  uint64_t flushes = 0;
  // Traffic seen at the last MaybeTrimIdle on this thread, and when.
  uint64_t idle_check_ops = 0;
  int64_t idle_check_ns = 0;
};

// InFlightWake marks an OnBufferAvailable call in progress, so CancelWait can
// wait for it to finish before the waiter is destroyed. It lives on the
// notifying thread's stack and never points back into the waiter after the
// call.
struct InFlightWake {
  const BufferWaiter* waiter;
  const void* thread;
  InFlightWake* next;
};

// ThreadCacheSet is the thread's list of caches, one per pool it has used. Its
// destructor (at thread exit) flushes the caches of pools still alive.
struct ThreadCacheSet {
  struct Entry {
    uint64_t pool_id;
    ThreadCache* cache;
  };
  ~ThreadCacheSet();
  std::vector<Entry> entries;
};

}  // namespace buffer_pool_internal

namespace {

using buffer_pool_internal::InFlightWake;
using buffer_pool_internal::ThreadCache;
using buffer_pool_internal::ThreadCacheSet;

// kFastSlots is how many (pool, cache) pairs a thread finds without touching
// its full cache list: a reactor thread normally uses one pool.
constexpr int kFastSlots = 4;

struct FastSlot {
  uint64_t pool_id;  // 0 = empty; pool ids start at 1 and are never reused
  ThreadCache* cache;
};

// Trivially constructible and destructible, so access compiles to a plain
// thread-pointer-relative load with no init guard.
ABSL_CONST_INIT thread_local FastSlot
    tls_fast_slots[kFastSlots] ABSL_ATTRIBUTE_INITIAL_EXEC = {};
// Set once this thread's ThreadCacheSet is destroyed: from then on the
// thread bypasses caches.
ABSL_CONST_INIT thread_local bool tls_caches_gone ABSL_ATTRIBUTE_INITIAL_EXEC =
    false;
// Its address identifies the thread (for CancelWait called from a callback).
ABSL_CONST_INIT thread_local char tls_thread_token ABSL_ATTRIBUTE_INITIAL_EXEC =
    0;

thread_local ThreadCacheSet tls_cache_set;

// PoolRegistry maps live pool ids to pools, so an exiting thread can tell
// whether the pool behind each of its caches still exists. Leaked on purpose:
// threads may exit after static destructors run.
struct PoolRegistry {
  std::mutex mu;
  std::unordered_map<uint64_t, BufferPool*> pools;  // guarded by mu
};

PoolRegistry& Registry() {
  static PoolRegistry* registry = new PoolRegistry;
  return *registry;
}

std::atomic<uint64_t> g_next_pool_id{1};

const void* ThreadToken() { return &tls_thread_token; }

// AddSaturating adds without wrapping (the budget may be SIZE_MAX).
size_t AddSaturating(size_t a, size_t b) {
  return a > std::numeric_limits<size_t>::max() - b
             ? std::numeric_limits<size_t>::max()
             : a + b;
}

// Under ASan, idle buffers are poisoned so a use after Reset() is reported.
void PoisonIdle(uint8_t* buf, size_t size) {
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
  ASAN_POISON_MEMORY_REGION(buf, size);
#else
  (void)buf;
  (void)size;
#endif
}

void UnpoisonLeased(uint8_t* buf, size_t size) {
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
  ASAN_UNPOISON_MEMORY_REGION(buf, size);
#else
  (void)buf;
  (void)size;
#endif
}

// BlockingWaiter parks a thread in AcquireBlocking until it is woken.
class BlockingWaiter final : public BufferWaiter {
 public:
  void OnBufferAvailable() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_one();
  }

  // Wait returns true if woken before `deadline` (nullopt: no deadline), and
  // re-arms the flag.
  bool Wait(
      const std::optional<std::chrono::steady_clock::time_point>& deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (deadline.has_value()) {
      cv_.wait_until(lock, *deadline, [this] { return woken_; });
    } else {
      cv_.wait(lock, [this] { return woken_; });
    }
    const bool woken = woken_;
    woken_ = false;
    return woken;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;  // guarded by mu_
};

}  // namespace

namespace buffer_pool_internal {

ThreadCacheSet::~ThreadCacheSet() {
  tls_caches_gone = true;
  for (FastSlot& slot : tls_fast_slots) slot = FastSlot{0, nullptr};
  for (const Entry& e : entries) {
    BufferPool* pool = nullptr;
    {
      PoolRegistry& registry = Registry();
      std::lock_guard<std::mutex> lock(registry.mu);
      auto it = registry.pools.find(e.pool_id);
      if (it == registry.pools.end()) continue;  // pool gone; cache freed
      pool = it->second;
      // Pin the pool so its destructor waits for this flush.
      std::lock_guard<std::mutex> pool_lock(pool->mu_);
      ++pool->pins_;
    }
    pool->DetachCache(e.cache);
    std::lock_guard<std::mutex> pool_lock(pool->mu_);
    --pool->pins_;
    pool->cv_.notify_all();
  }
}

}  // namespace buffer_pool_internal

BufferWaiter::~BufferWaiter() {
  if (pool_ != nullptr) pool_->CancelWait(this);
}

absl::StatusOr<std::unique_ptr<BufferPool>> BufferPool::Create(
    BufferPoolOptions options) {
  if (options.buffer_size == 0 || options.buffer_size > kMaxPoolBufferSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("buffer_size must be in [1, ", kMaxPoolBufferSize,
                     "], got ", options.buffer_size));
  }
  if (options.max_bytes_outstanding != 0 &&
      options.max_bytes_outstanding < options.buffer_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_bytes_outstanding ", options.max_bytes_outstanding,
        " is smaller than one buffer (", options.buffer_size, ")"));
  }
  if (options.thread_cache_buffers > kMaxThreadCacheBuffers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "thread_cache_buffers must be at most ", kMaxThreadCacheBuffers,
        ", got ", options.thread_cache_buffers));
  }
  if (options.thread_cache_buffers != 0 &&
      (options.transfer_batch == 0 ||
       options.transfer_batch > options.thread_cache_buffers)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transfer_batch must be in [1, thread_cache_buffers=",
        options.thread_cache_buffers, "], got ", options.transfer_batch));
  }
  if (options.idle_trim_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("idle_trim_after must be positive");
  }
  std::unique_ptr<BufferPool> pool(new BufferPool(options));
  PoolRegistry& registry = Registry();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.pools.emplace(pool->id_, pool.get());
  return pool;
}

BufferPool::BufferPool(const BufferPoolOptions& options)
    : id_(g_next_pool_id.fetch_add(1, std::memory_order_relaxed)),
      buffer_size_(options.buffer_size),
      alloc_size_((options.buffer_size + kPoolBufferAlignment - 1) /
                  kPoolBufferAlignment * kPoolBufferAlignment),
      cache_capacity_(static_cast<uint32_t>(options.thread_cache_buffers)),
      transfer_batch_(static_cast<uint32_t>(options.transfer_batch)),
      max_buffers_(options.max_bytes_outstanding == 0
                       ? std::numeric_limits<size_t>::max()
                       : options.max_bytes_outstanding / options.buffer_size),
      stealable_(options.max_bytes_outstanding != 0),
      idle_ns_(options.idle_trim_after == absl::InfiniteDuration()
                   ? 0
                   : std::max<int64_t>(
                         1, absl::ToInt64Nanoseconds(options.idle_trim_after))),
      options_(options) {}

BufferPool::~BufferPool() {
  {
    PoolRegistry& registry = Registry();
    std::lock_guard<std::mutex> lock(registry.mu);
    registry.pools.erase(id_);
  }
  // From here no exiting thread can find this pool; wait for those that
  // already did.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return pins_ == 0; });
  assert(waiters_head_ == nullptr &&
         "BufferPool destroyed with waiters queued");
  assert(in_flight_ == nullptr &&
         "BufferPool destroyed during OnBufferAvailable");
  size_t freed = 0;
  for (ThreadCache* cache : caches_) {
    const uint32_t n = cache->count.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < n; ++i) {
      FreeLocked(cache->bufs[i]);
      ++freed;
    }
    delete cache;
  }
  caches_.clear();
  for (const DepotEntry& e : depot_) {
    FreeLocked(e.buf);
    ++freed;
  }
  depot_.clear();
  assert(allocated_ == 0 && "BufferPool destroyed with leases outstanding");
  (void)freed;
}

int64_t BufferPool::NowNs() const {
  if (idle_ns_ == 0) return 0;
  if (options_.clock != nullptr) return options_.clock->NowNs();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// --- Thread cache lookup ---------------------------------------------------

inline BufferPool::ThreadCache* BufferPool::LocalCache() {
  for (const FastSlot& slot : tls_fast_slots) {
    if (slot.pool_id == id_) return slot.cache;
  }
  return LocalCacheSlow();
}

BufferPool::ThreadCache* BufferPool::FindLocalCache() const {
  for (const FastSlot& slot : tls_fast_slots) {
    if (slot.pool_id == id_) return slot.cache;
  }
  if (cache_capacity_ == 0 || tls_caches_gone) return nullptr;
  for (const ThreadCacheSet::Entry& e : tls_cache_set.entries) {
    if (e.pool_id == id_) return e.cache;
  }
  return nullptr;
}

BufferPool::ThreadCache* BufferPool::LocalCacheSlow() {
  if (cache_capacity_ == 0 || tls_caches_gone) return nullptr;
  ThreadCacheSet& set = tls_cache_set;
  ThreadCache* cache = nullptr;
  for (const ThreadCacheSet::Entry& e : set.entries) {
    if (e.pool_id == id_) {
      cache = e.cache;
      break;
    }
  }
  if (cache == nullptr) {
    // First use of this pool on this thread: drop entries of dead pools (their
    // caches were freed with the pool), then register a new cache.
    {
      PoolRegistry& registry = Registry();
      std::lock_guard<std::mutex> lock(registry.mu);
      std::erase_if(set.entries, [&](const ThreadCacheSet::Entry& e) {
        return registry.pools.find(e.pool_id) == registry.pools.end();
      });
    }
    cache = new ThreadCache(cache_capacity_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cache->seen_pressure =
          pressure_.load(std::memory_order_relaxed) & ~uint64_t{1};
      cache->idle_check_ns = NowNs();
      caches_.push_back(cache);
    }
    set.entries.push_back({id_, cache});
  }
  // Most recently used first.
  for (int i = kFastSlots - 1; i > 0; --i) {
    tls_fast_slots[i] = tls_fast_slots[i - 1];
  }
  tls_fast_slots[0] = FastSlot{id_, cache};
  return cache;
}

// --- Fast paths ------------------------------------------------------------

namespace {

// PopCached takes the top buffer of the calling thread's cache, or returns
// nullptr if it is empty (or being stolen from).
inline uint8_t* PopCached(ThreadCache* cache, bool stealable) {
  if (!stealable) {
    const uint32_t n = cache->count.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_FALSE(n == 0)) return nullptr;
    uint8_t* buf = cache->bufs[n - 1];
    cache->count.store(n - 1, std::memory_order_relaxed);
    return buf;
  }
  uint32_t n = cache->count.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(n == 0 || n == ThreadCache::kStealing)) {
    return nullptr;
  }
  uint8_t* buf = cache->bufs[n - 1];
  // Fails only if a stealer took the cache meanwhile.
  if (ABSL_PREDICT_FALSE(!cache->count.compare_exchange_strong(
          n, n - 1, std::memory_order_acquire))) {
    return nullptr;
  }
  return buf;
}

enum class PushResult { kCached, kCachedUnderPressure, kNotCached };

// PushCached puts `buf` on the calling thread's cache if there is room and
// the pool's pressure word is still `seen`.
inline PushResult PushCached(ThreadCache* cache, uint8_t* buf, bool stealable,
                             const std::atomic<uint64_t>& pressure) {
  if (!stealable) {
    const uint32_t n = cache->count.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_FALSE(n >= cache->capacity ||
                           pressure.load(std::memory_order_relaxed) !=
                               cache->seen_pressure)) {
      return PushResult::kNotCached;
    }
    cache->bufs[n] = buf;
    cache->count.store(n + 1, std::memory_order_relaxed);
    return PushResult::kCached;
  }
  uint32_t n = cache->count.load(std::memory_order_acquire);
  // kStealing is above any capacity.
  if (ABSL_PREDICT_FALSE(n >= cache->capacity ||
                         pressure.load(std::memory_order_relaxed) !=
                             cache->seen_pressure)) {
    return PushResult::kNotCached;
  }
  cache->bufs[n] = buf;  // above count: no stealer reads this slot
  if (ABSL_PREDICT_FALSE(!cache->count.compare_exchange_strong(
          n, n + 1, std::memory_order_acq_rel))) {
    return PushResult::kNotCached;
  }
  // A stealer publishes pressure before it steals; if our CAS came after its
  // steal we synchronised with it and see the pressure here, so a buffer is
  // never left in a cache while a thread is refused.
  if (ABSL_PREDICT_FALSE(pressure.load(std::memory_order_relaxed) !=
                         cache->seen_pressure)) {
    return PushResult::kCachedUnderPressure;
  }
  return PushResult::kCached;
}

}  // namespace

BufferLease BufferPool::TryAcquire() {
  ThreadCache* cache = LocalCache();
  if (ABSL_PREDICT_TRUE(cache != nullptr)) {
    if (uint8_t* buf = PopCached(cache, stealable_);
        ABSL_PREDICT_TRUE(buf != nullptr)) {
      ++cache->hits;
      UnpoisonLeased(buf, buffer_size_);
      return BufferLease(this, buf);
    }
  }
  return AcquireSlow(cache, nullptr);
}

BufferLease BufferPool::AcquireOrWait(BufferWaiter* w) {
  // Only the waiter's own thread moves it out of kIdle, so an idle waiter
  // needs no bookkeeping and may take the lock-free path.
  if (w == nullptr ||
      w->state_.load(std::memory_order_relaxed) == BufferWaiter::kIdle) {
    ThreadCache* cache = LocalCache();
    if (ABSL_PREDICT_TRUE(cache != nullptr)) {
      if (uint8_t* buf = PopCached(cache, stealable_);
          ABSL_PREDICT_TRUE(buf != nullptr)) {
        ++cache->hits;
        UnpoisonLeased(buf, buffer_size_);
        return BufferLease(this, buf);
      }
    }
    return AcquireSlow(cache, w);
  }
  return AcquireSlow(LocalCache(), w);
}

void BufferPool::Release(uint8_t* buf) {
  PoisonIdle(buf, buffer_size_);
  ThreadCache* cache = LocalCache();
  if (ABSL_PREDICT_TRUE(cache != nullptr)) {
    switch (PushCached(cache, buf, stealable_, pressure_)) {
      case PushResult::kCached:
        ++cache->releases;
        return;
      case PushResult::kCachedUnderPressure:
        ++cache->releases;
        buf = nullptr;  // already cached; the slow path flushes the cache
        break;
      case PushResult::kNotCached:
        break;
    }
  }
  ReleaseSlow(cache, buf);
}

// --- Slow paths ------------------------------------------------------------

size_t BufferPool::AvailableLocked() const {
  return AddSaturating(depot_.size(), max_buffers_ - allocated_);
}

bool BufferPool::ShouldWakeLocked() const {
  return waiters_head_ != nullptr && AvailableLocked() > pending_wakeups_;
}

void BufferPool::PushDepotLocked(uint8_t* buf, int64_t now_ns) {
  depot_.push_back(DepotEntry{buf, now_ns});
}

void BufferPool::FreeLocked(uint8_t* buf) {
  UnpoisonLeased(buf, buffer_size_);
  std::free(buf);
  --allocated_;
}

void BufferPool::NoteTrimLocked(size_t freed) {
  if (freed == 0) return;
  ++trims_;
  freed_ += freed;
}

size_t BufferPool::TrimIdleDepotLocked(int64_t now_ns) {
  if (idle_ns_ == 0 || depot_.empty()) return 0;
  // The depot is a stack pushed in time order, so the idle entries are a
  // prefix.
  const int64_t cutoff = now_ns - idle_ns_;
  size_t n = 0;
  while (n < depot_.size() && depot_[n].since_ns <= cutoff) {
    FreeLocked(depot_[n].buf);
    ++n;
  }
  depot_.erase(depot_.begin(), depot_.begin() + n);
  NoteTrimLocked(n);
  return n;
}

void BufferPool::FlushCacheLocked(ThreadCache* cache, int64_t now_ns) {
  const uint32_t n = cache->count.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) PushDepotLocked(cache->bufs[i], now_ns);
  cache->count.store(0, std::memory_order_relaxed);
  if (n != 0) ++cache->flushes;
}

void BufferPool::SetPressureLocked(bool bump_epoch) {
  uint64_t p = pressure_.load(std::memory_order_relaxed) & ~uint64_t{1};
  if (bump_epoch) p += 2;
  if (waiters_head_ != nullptr) p |= 1;
  pressure_.store(p, std::memory_order_relaxed);
}

void BufferPool::EnqueueLocked(BufferWaiter* w, bool at_head) {
  w->pool_ = this;
  w->state_.store(BufferWaiter::kQueued, std::memory_order_relaxed);
  if (at_head) {
    w->prev_ = nullptr;
    w->next_ = waiters_head_;
    if (waiters_head_ != nullptr) {
      waiters_head_->prev_ = w;
    } else {
      waiters_tail_ = w;
    }
    waiters_head_ = w;
  } else {
    w->next_ = nullptr;
    w->prev_ = waiters_tail_;
    if (waiters_tail_ != nullptr) {
      waiters_tail_->next_ = w;
    } else {
      waiters_head_ = w;
    }
    waiters_tail_ = w;
  }
  ++waiter_count_;
}

void BufferPool::UnlinkLocked(BufferWaiter* w) {
  if (w->prev_ != nullptr) {
    w->prev_->next_ = w->next_;
  } else {
    waiters_head_ = w->next_;
  }
  if (w->next_ != nullptr) {
    w->next_->prev_ = w->prev_;
  } else {
    waiters_tail_ = w->prev_;
  }
  w->prev_ = nullptr;
  w->next_ = nullptr;
  --waiter_count_;
}

size_t BufferPool::StealLocked(const ThreadCache* own, int64_t now_ns) {
  size_t stolen = 0;
  for (ThreadCache* cache : caches_) {
    if (cache == own) continue;
    uint32_t n = cache->count.load(std::memory_order_acquire);
    // Only stealers (holding mu_) store kStealing, so n is a real count.
    while (n != 0 &&
           !cache->count.compare_exchange_weak(n, ThreadCache::kStealing,
                                               std::memory_order_acquire)) {
    }
    if (n == 0) continue;
    for (uint32_t i = 0; i < n; ++i) PushDepotLocked(cache->bufs[i], now_ns);
    cache->count.store(0, std::memory_order_release);
    stolen += n;
  }
  steals_ += stolen;
  return stolen;
}

BufferLease BufferPool::AcquireSlow(ThreadCache* cache, BufferWaiter* w) {
  const int64_t now = NowNs();
  uint8_t* buf = nullptr;
  bool allocate = false;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    uint8_t state = BufferWaiter::kIdle;
    if (w != nullptr) {
      state = w->state_.load(std::memory_order_relaxed);
      assert((state == BufferWaiter::kIdle || w->pool_ == this) &&
             "BufferWaiter is waiting on another pool");
      if (state == BufferWaiter::kWoken) {
        // The claim this waiter held is spent on this attempt.
        --pending_wakeups_;
        w->state_.store(BufferWaiter::kIdle, std::memory_order_relaxed);
      }
    }
    if (cache != nullptr && cache->count.load(std::memory_order_relaxed) != 0) {
      // Reached only for a waiter that was not idle (so skipped the
      // lock-free pop) and whose own cache still holds buffers.
      const uint32_t n = cache->count.load(std::memory_order_relaxed) - 1;
      buf = cache->bufs[n];
      cache->count.store(n, std::memory_order_relaxed);
      ++cache->hits;
    } else {
      if (cache != nullptr) ++cache->misses;
      // Buffers claimed by woken waiters are not for newcomers.
      bool ok = AvailableLocked() > pending_wakeups_;
      bool stole = false;
      if (!ok && stealable_) {
        // Publish the pressure before stealing: a release racing with the
        // steal either lands in a cache we then steal from, or sees the new
        // pressure and flushes (see PushCached).
        SetPressureLocked(/*bump_epoch=*/true);
        stole = StealLocked(cache, now) != 0;
        ok = AvailableLocked() > pending_wakeups_;
      }
      if (ok) {
        if (!depot_.empty()) {
          buf = depot_.back().buf;
          depot_.pop_back();
          // Refill the cache only when nobody else is waiting and the budget
          // is not tight, so a batch is never hoarded from other readers.
          if (cache != nullptr && !stole && waiters_head_ == nullptr &&
              pending_wakeups_ == 0) {
            const size_t extra =
                std::min<size_t>(transfer_batch_ - 1, depot_.size());
            if (extra != 0) {
              for (size_t i = 0; i < extra; ++i) {
                cache->bufs[i] = depot_[depot_.size() - extra + i].buf;
              }
              depot_.resize(depot_.size() - extra);
              cache->count.store(static_cast<uint32_t>(extra),
                                 std::memory_order_relaxed);
              ++cache->refills;
            }
          }
        } else {
          // Reserve the budget now; allocate outside the lock.
          ++allocated_;
          ++allocations_;
          allocate = true;
        }
      }
    }
    if (buf != nullptr || allocate) {
      if (state == BufferWaiter::kQueued) {
        UnlinkLocked(w);
        w->state_.store(BufferWaiter::kIdle, std::memory_order_relaxed);
        SetPressureLocked(/*bump_epoch=*/false);
      }
      if (w != nullptr) w->pool_ = nullptr;
      high_water_ = std::max(high_water_, allocated_ - depot_.size());
    } else {
      ++exhausted_;
      if (w != nullptr && state != BufferWaiter::kQueued) {
        // A waiter that was woken and lost the race keeps its turn.
        EnqueueLocked(w, /*at_head=*/state == BufferWaiter::kWoken);
      }
      // Ask every thread to flush its cache on its next release.
      SetPressureLocked(/*bump_epoch=*/true);
    }
    // After taking the newest buffer, so a warm one is reused, not freed.
    TrimIdleDepotLocked(now);
    wake = ShouldWakeLocked();
  }
  if (allocate) {
    buf = static_cast<uint8_t*>(
        std::aligned_alloc(kPoolBufferAlignment, alloc_size_));
    if (ABSL_PREDICT_FALSE(buf == nullptr)) {
      std::lock_guard<std::mutex> lock(mu_);
      --allocated_;
      --allocations_;
      ++exhausted_;
      if (w != nullptr) {
        if (w->state_.load(std::memory_order_relaxed) == BufferWaiter::kIdle) {
          EnqueueLocked(w, /*at_head=*/true);
        }
        SetPressureLocked(/*bump_epoch=*/true);
      }
      wake = ShouldWakeLocked();
    }
  }
  if (wake) WakeWaiters();
  if (buf == nullptr) return BufferLease();
  UnpoisonLeased(buf, buffer_size_);
  return BufferLease(this, buf);
}

// ReleaseSlow returns `buf` through the depot, or, with buf == nullptr,
// flushes a cache the buffer already went into under pressure.
void BufferPool::ReleaseSlow(ThreadCache* cache, uint8_t* buf) {
  const int64_t now = NowNs();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Stealers hold mu_, so the cache is the owner's alone here.
    if (cache != nullptr) {
      const uint64_t p = pressure_.load(std::memory_order_relaxed);
      if (p != cache->seen_pressure) {
        // Budget pressure or queued readers: everything this thread holds
        // goes back where others can take it.
        FlushCacheLocked(cache, now);
        if (buf != nullptr) PushDepotLocked(buf, now);
        cache->seen_pressure = p & ~uint64_t{1};
      } else if (buf == nullptr) {
        // The pressure that sent us here is gone; the buffer stays cached.
      } else if (const uint32_t n =
                     cache->count.load(std::memory_order_relaxed);
                 n < cache->capacity) {
        // Room after all (stolen meanwhile, or the waiters bit cleared).
        cache->bufs[n] = buf;
        cache->count.store(n + 1, std::memory_order_relaxed);
        ++cache->releases;
      } else {
        // Full: give the oldest batch (bottom of the stack) to the depot.
        const uint32_t batch = std::min(transfer_batch_, n);
        for (uint32_t i = 0; i < batch; ++i) {
          PushDepotLocked(cache->bufs[i], now);
        }
        std::memmove(&cache->bufs[0], &cache->bufs[batch],
                     (n - batch) * sizeof(cache->bufs[0]));
        cache->bufs[n - batch] = buf;
        cache->count.store(n - batch + 1, std::memory_order_relaxed);
        ++cache->releases;
        ++cache->flushes;
      }
    } else {
      PushDepotLocked(buf, now);
    }
    TrimIdleDepotLocked(now);
    wake = ShouldWakeLocked();
  }
  if (wake) WakeWaiters();
}

bool BufferPool::WakeInFlightElsewhereLocked(const BufferWaiter* w) const {
  for (const InFlightWake* r = in_flight_; r != nullptr; r = r->next) {
    if (r->waiter == w && r->thread != ThreadToken()) return true;
  }
  return false;
}

void BufferPool::WakeWaiters() {
  for (;;) {
    InFlightWake record;
    BufferWaiter* w;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ShouldWakeLocked()) return;
      w = waiters_head_;
      UnlinkLocked(w);
      w->state_.store(BufferWaiter::kWoken, std::memory_order_relaxed);
      ++pending_wakeups_;
      ++wakeups_;
      SetPressureLocked(/*bump_epoch=*/false);
      record = InFlightWake{w, ThreadToken(), in_flight_};
      in_flight_ = &record;
    }
    w->OnBufferAvailable();
    // `w` may be gone now; only our own record is touched.
    std::lock_guard<std::mutex> lock(mu_);
    InFlightWake** link = &in_flight_;
    while (*link != &record) link = &(*link)->next;
    *link = record.next;
    cv_.notify_all();
  }
}

void BufferPool::CancelWait(BufferWaiter* w) {
  bool wake = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const uint8_t state = w->state_.load(std::memory_order_relaxed);
    assert((state == BufferWaiter::kIdle || w->pool_ == this) &&
           "CancelWait on a pool the waiter is not waiting on");
    if (state == BufferWaiter::kQueued) {
      UnlinkLocked(w);
      SetPressureLocked(/*bump_epoch=*/false);
    } else if (state == BufferWaiter::kWoken) {
      // Pass the unused wakeup on.
      --pending_wakeups_;
      wake = true;
    }
    w->state_.store(BufferWaiter::kIdle, std::memory_order_relaxed);
    w->pool_ = nullptr;
    while (WakeInFlightElsewhereLocked(w)) cv_.wait(lock);
    wake = wake && ShouldWakeLocked();
  }
  if (wake) WakeWaiters();
}

BufferLease BufferPool::AcquireBlocking(absl::Duration timeout) {
  BufferLease lease = TryAcquire();
  if (lease || timeout <= absl::ZeroDuration()) return lease;
  // kMaxBlockingWait: longer timeouts are treated as "forever", so the
  // steady-clock deadline below cannot overflow.
  constexpr absl::Duration kMaxBlockingWait = absl::Hours(24 * 365);
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout < kMaxBlockingWait) {
    deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  }
  BlockingWaiter waiter;
  for (;;) {
    lease = AcquireOrWait(&waiter);
    if (lease) break;
    if (!waiter.Wait(deadline)) break;
  }
  // Also waits out a wakeup racing with the timeout.
  CancelWait(&waiter);
  return lease;
}

void BufferPool::DetachCache(ThreadCache* cache) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FlushCacheLocked(cache, NowNs());
    caches_.erase(std::find(caches_.begin(), caches_.end(), cache));
    delete cache;
    wake = ShouldWakeLocked();
  }
  if (wake) WakeWaiters();
}

// --- Trimming and stats ----------------------------------------------------

size_t BufferPool::Trim() {
  ThreadCache* cache = FindLocalCache();
  size_t freed = 0;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache != nullptr) {
      const uint32_t n = cache->count.load(std::memory_order_relaxed);
      for (uint32_t i = 0; i < n; ++i) FreeLocked(cache->bufs[i]);
      cache->count.store(0, std::memory_order_relaxed);
      freed += n;
    }
    for (const DepotEntry& e : depot_) FreeLocked(e.buf);
    freed += depot_.size();
    depot_.clear();
    NoteTrimLocked(freed);
    wake = ShouldWakeLocked();
  }
  if (wake) WakeWaiters();
  return freed;
}

size_t BufferPool::MaybeTrimIdle() {
  if (idle_ns_ == 0) return 0;
  const int64_t now = NowNs();
  ThreadCache* cache = FindLocalCache();
  size_t freed = 0;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache != nullptr) {
      const uint64_t ops = cache->hits + cache->misses + cache->releases;
      if (ops != cache->idle_check_ops) {
        cache->idle_check_ops = ops;
        cache->idle_check_ns = now;
      } else if (now - cache->idle_check_ns >= idle_ns_) {
        const uint32_t n = cache->count.load(std::memory_order_relaxed);
        for (uint32_t i = 0; i < n; ++i) FreeLocked(cache->bufs[i]);
        cache->count.store(0, std::memory_order_relaxed);
        NoteTrimLocked(n);
        freed += n;
      }
    }
    freed += TrimIdleDepotLocked(now);
    wake = ShouldWakeLocked();
  }
  if (wake) WakeWaiters();
  return freed;
}

BufferPoolStats BufferPool::stats() const {
  BufferPoolStats s;
  s.buffer_size = buffer_size_;
  s.max_buffers =
      max_buffers_ == std::numeric_limits<size_t>::max() ? 0 : max_buffers_;
  std::lock_guard<std::mutex> lock(mu_);
  s.allocated = allocated_;
  s.depot = depot_.size();
  for (const ThreadCache* cache : caches_) {
    s.cached_total += cache->count.load(std::memory_order_relaxed);
  }
  const size_t idle = s.depot + s.cached_total;
  // Other threads' caches may be mid-update; clamp rather than wrap.
  s.outstanding = s.allocated > idle ? s.allocated - idle : 0;
  s.high_water_outstanding = high_water_;
  s.waiters = waiter_count_;
  s.allocations = allocations_;
  s.exhausted = exhausted_;
  s.wakeups = wakeups_;
  s.steals = steals_;
  s.trims = trims_;
  s.freed = freed_;
  return s;
}

ThreadCacheStats BufferPool::thread_cache_stats() const {
  ThreadCacheStats s;
  s.capacity = cache_capacity_;
  const ThreadCache* cache = FindLocalCache();
  if (cache == nullptr) return s;
  s.cached = cache->count.load(std::memory_order_relaxed);
  s.hits = cache->hits;
  s.misses = cache->misses;
  s.releases = cache->releases;
  s.refills = cache->refills;
  s.flushes = cache->flushes;
  return s;
}

}  // namespace alts
