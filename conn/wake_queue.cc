#include "conn/wake_queue.h"

#include <thread>

#include "absl/status/status.h"

namespace alts {

absl::StatusOr<std::unique_ptr<WakeQueue>> WakeQueue::Create(event_base* base) {
  std::unique_ptr<WakeQueue> queue(new WakeQueue());
  queue->event_ = event_new(base, -1, 0, &WakeQueue::OnEvent, queue.get());
  if (queue->event_ == nullptr) {
    return absl::InternalError("WakeQueue: event_new failed");
  }
  return queue;
}

WakeQueue::~WakeQueue() {
  if (event_ != nullptr) event_free(event_);
}

void WakeQueue::Wake(WakeNode* node) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (node->wake_queued_) return;
    node->wake_queued_ = true;
    node->wake_next_ = nullptr;
    if (tail_ == nullptr) {
      head_ = tail_ = node;
    } else {
      tail_->wake_next_ = node;
      tail_ = node;
    }
  }
  // event_active is thread-safe once evthread_use_pthreads() has run (the
  // Reactor guarantees it); activating an active event is a no-op.
  event_active(event_, EV_READ, 0);
}

void WakeQueue::Cancel(WakeNode* node) {
  std::unique_lock<std::mutex> lock(mu_);
  if (node->wake_queued_) {
    WakeNode* prev = nullptr;
    for (WakeNode* n = head_; n != nullptr; prev = n, n = n->wake_next_) {
      if (n != node) continue;
      if (prev == nullptr) head_ = n->wake_next_; else prev->wake_next_ = n->wake_next_;
      if (tail_ == n) tail_ = prev;
      break;
    }
    node->wake_queued_ = false;
    node->wake_next_ = nullptr;
  }
  // A node being woken on the reactor thread right now finishes first,
  // unless the caller is that very OnWake (same thread), which may cancel.
  if (running_ == node && running_thread_ != std::this_thread::get_id()) {
    idle_.wait(lock, [&] { return running_ != node; });
  }
}

void WakeQueue::OnEvent(evutil_socket_t, short, void* arg) {
  static_cast<WakeQueue*>(arg)->Drain();
}

void WakeQueue::Drain() {
  for (;;) {
    WakeNode* node;
    {
      std::unique_lock<std::mutex> lock(mu_);
      node = head_;
      if (node == nullptr) return;
      head_ = node->wake_next_;
      if (head_ == nullptr) tail_ = nullptr;
      node->wake_next_ = nullptr;
      node->wake_queued_ = false;
      running_ = node;
      running_thread_ = std::this_thread::get_id();
    }
    node->OnWake();
    std::unique_lock<std::mutex> lock(mu_);
    running_ = nullptr;
    idle_.notify_all();
  }
}

}  // namespace alts
