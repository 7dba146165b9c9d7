#include "handshaker/handshake_limiter.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"

namespace alts {
namespace {

// Grants made while this thread is already inside an OnSlotGranted callback
// are queued here and delivered when that callback returns, so a chain of
// callbacks that release their slots at once does not recurse without bound.
thread_local std::vector<std::pair<HandshakeLimiter*, HandshakeLimiter::Waiter*>>*
    tls_pending_grants = nullptr;

}  // namespace

HandshakeLimiter::HandshakeLimiter(size_t max_concurrent, size_t max_queued)
    : max_concurrent_(std::max<size_t>(max_concurrent, 1)), max_queued_(max_queued) {}

HandshakeLimiter::~HandshakeLimiter() = default;

HandshakeLimiter& HandshakeLimiter::Global() {
  static HandshakeLimiter* const limiter = new HandshakeLimiter(MaxConcurrentFromEnvironment());
  return *limiter;
}

size_t HandshakeLimiter::MaxConcurrentFromEnvironment() {
  return MaxConcurrentFromEnv(std::getenv(kMaxConcurrentHandshakesEnv));
}

size_t HandshakeLimiter::MaxConcurrentFromEnv(const char* value) {
  uint64_t parsed = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &parsed) || parsed == 0) {
    return kDefaultMaxConcurrentHandshakes;
  }
  return static_cast<size_t>(parsed);
}

size_t HandshakeLimiter::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

size_t HandshakeLimiter::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

std::optional<HandshakeLimiter::Slot> HandshakeLimiter::TryAcquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (in_use_ >= max_concurrent_ || head_ != nullptr) return std::nullopt;
  ++in_use_;
  return Slot(this);
}

absl::StatusOr<HandshakeLimiter::Slot> HandshakeLimiter::AcquireOrQueue(Waiter* waiter) {
  std::lock_guard<std::mutex> lock(mu_);
  if (waiter->queued_) return absl::FailedPreconditionError("waiter already queued");
  if (in_use_ < max_concurrent_ && head_ == nullptr) {
    ++in_use_;
    return Slot(this);
  }
  if (queued_ >= max_queued_) {
    return absl::ResourceExhaustedError("handshake queue full");
  }
  waiter->queued_ = true;
  waiter->next_ = nullptr;
  waiter->prev_ = tail_;
  if (tail_ != nullptr) {
    tail_->next_ = waiter;
  } else {
    head_ = waiter;
  }
  tail_ = waiter;
  ++queued_;
  return Slot();
}

bool HandshakeLimiter::Cancel(Waiter* waiter) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!waiter->queued_) return false;
  if (waiter->prev_ != nullptr) {
    waiter->prev_->next_ = waiter->next_;
  } else {
    head_ = waiter->next_;
  }
  if (waiter->next_ != nullptr) {
    waiter->next_->prev_ = waiter->prev_;
  } else {
    tail_ = waiter->prev_;
  }
  waiter->prev_ = waiter->next_ = nullptr;
  waiter->queued_ = false;
  --queued_;
  return true;
}

void HandshakeLimiter::ReleaseOne() {
  Waiter* next = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (head_ == nullptr) {
      --in_use_;
      return;
    }
    // Hand the slot straight to the first waiter: in_use_ stays the same.
    next = head_;
    head_ = next->next_;
    if (head_ != nullptr) {
      head_->prev_ = nullptr;
    } else {
      tail_ = nullptr;
    }
    next->prev_ = next->next_ = nullptr;
    next->queued_ = false;
    --queued_;
  }
  if (tls_pending_grants != nullptr) {
    tls_pending_grants->emplace_back(this, next);
    return;
  }
  std::vector<std::pair<HandshakeLimiter*, Waiter*>> pending;
  tls_pending_grants = &pending;
  next->OnSlotGranted(Slot(this));
  for (size_t i = 0; i < pending.size(); ++i) {
    pending[i].second->OnSlotGranted(Slot(pending[i].first));
  }
  tls_pending_grants = nullptr;
}

void HandshakeLimiter::Slot::Release() {
  if (limiter_ == nullptr) return;
  HandshakeLimiter* limiter = limiter_;
  limiter_ = nullptr;
  limiter->ReleaseOne();
}

}  // namespace alts
