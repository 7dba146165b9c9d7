#ifndef ALTS_HANDSHAKER_HANDSHAKE_LIMITER_H_
#define ALTS_HANDSHAKER_HANDSHAKE_LIMITER_H_

#include <cstddef>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "handshaker/handshake_limits.h"

namespace alts {

// kMaxConcurrentHandshakesEnv names the environment variable that sizes the
// process-wide handshake caps: the same name gRPC reads.
inline constexpr char kMaxConcurrentHandshakesEnv[] = "GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES";

// HandshakeLimiter caps how many handshakes run at once (gRPC: 100 per
// process by default) and queues the rest, first come first served, in a
// bounded queue. It is pure admission control: no I/O, no threads; a queued
// handshake is resumed through its Waiter's callback when a slot frees.
// Thread-safe.
class HandshakeLimiter {
 public:
  class Slot;

  // Waiter is a handshake waiting for a slot. It is linked into the queue
  // intrusively, so queueing allocates nothing. The waiter must stay alive
  // while queued, and after a Cancel that returned false until its
  // OnSlotGranted has run.
  class Waiter {
   public:
    virtual ~Waiter() = default;
    // OnSlotGranted hands the waiter its slot. It runs on the thread that
    // released the slot, outside the limiter's lock: keep it short (e.g.
    // post the handshake to its reactor). Dropping `slot` releases it; a
    // grant caused by that release is delivered after this call returns.
    virtual void OnSlotGranted(Slot slot) = 0;

   private:
    friend class HandshakeLimiter;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    bool queued_ = false;
  };

  // Slot is the right to run one handshake; releasing it (Release or
  // destruction) admits the next queued waiter. Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : limiter_(other.limiter_) { other.limiter_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        Release();
        limiter_ = other.limiter_;
        other.limiter_ = nullptr;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(); }

    // held returns true if this slot counts against the limit.
    bool held() const { return limiter_ != nullptr; }
    // Release gives the slot back (no-op if not held).
    void Release();

   private:
    friend class HandshakeLimiter;
    explicit Slot(HandshakeLimiter* limiter) : limiter_(limiter) {}
    HandshakeLimiter* limiter_ = nullptr;
  };

  // The limiter admits `max_concurrent` (at least 1) handshakes and queues up
  // to `max_queued` more.
  explicit HandshakeLimiter(size_t max_concurrent,
                            size_t max_queued = kDefaultMaxQueuedHandshakes);
  // Every slot must have been released before the limiter dies.
  ~HandshakeLimiter();
  HandshakeLimiter(const HandshakeLimiter&) = delete;
  HandshakeLimiter& operator=(const HandshakeLimiter&) = delete;

  // Global returns the process-wide limiter, sized from the environment
  // variable GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES (default 100) on first use.
  static HandshakeLimiter& Global();

  // MaxConcurrentFromEnv parses a value of
  // GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: a positive decimal integer;
  // nullptr, empty or invalid gives the default.
  static size_t MaxConcurrentFromEnv(const char* value);
  // MaxConcurrentFromEnvironment reads kMaxConcurrentHandshakesEnv now and
  // parses it (MaxConcurrentFromEnv).
  static size_t MaxConcurrentFromEnvironment();

  // TryAcquire returns a held slot if one is free now, nullopt otherwise. It
  // never jumps the queue: with waiters queued it returns nullopt.
  std::optional<Slot> TryAcquire();

  // AcquireOrQueue returns a held slot if one is free now. Otherwise it
  // queues `waiter` and returns an empty (not held) slot; the waiter's
  // OnSlotGranted runs later. Returns kResourceExhausted if the queue is
  // full and kFailedPrecondition if `waiter` is already queued.
  absl::StatusOr<Slot> AcquireOrQueue(Waiter* waiter);

  // Cancel removes a queued waiter. Returns false if it was not queued (its
  // slot has been, or is being, granted).
  bool Cancel(Waiter* waiter);

  // max_concurrent returns the cap.
  size_t max_concurrent() const { return max_concurrent_; }
  // in_use / queued return the current counts.
  size_t in_use() const;
  size_t queued() const;

 private:
  void ReleaseOne();

  const size_t max_concurrent_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  size_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  Waiter* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  Waiter* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKE_LIMITER_H_
