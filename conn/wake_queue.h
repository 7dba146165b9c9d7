#ifndef ALTS_CONN_WAKE_QUEUE_H_
#define ALTS_CONN_WAKE_QUEUE_H_

#include <memory>
#include <thread>

#include <event2/event.h>

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace alts {

// WakeNode is embedded in an object that other threads may need to wake on
// its reactor thread (e.g. a connection waiting for a pool buffer). Intrusive:
// queuing a node allocates nothing.
class WakeNode {
 public:
  // OnWake runs on the queue's reactor thread.
  virtual void OnWake() = 0;

 protected:
  ~WakeNode() = default;

 private:
  friend class WakeQueue;
  WakeNode* wake_next_ = nullptr;
  bool wake_queued_ = false;
};

// WakeQueue lets any thread schedule WakeNode::OnWake on one event_base's
// thread without allocating: Wake() links the node into a list under a mutex
// and activates one event; the base's thread drains the list. A node is
// queued at most once at a time. An object embedding a node must call
// Cancel() (on any thread) before it dies.
class WakeQueue {
 public:
  // Create binds a queue to `base` (which must outlive it). Returns kInternal
  // if libevent cannot create the event.
  static absl::StatusOr<std::unique_ptr<WakeQueue>> Create(event_base* base);
  ~WakeQueue();

  WakeQueue(const WakeQueue&) = delete;
  WakeQueue& operator=(const WakeQueue&) = delete;

  // Wake queues `node` (no-op if already queued). Thread-safe.
  void Wake(WakeNode* node);

  // Cancel removes `node` if queued. Thread-safe. After it returns, OnWake
  // for this node is not running on another thread and will not run
  // (when called from the reactor thread itself, a running OnWake is the
  // caller's own frame).
  void Cancel(WakeNode* node);

 private:
  WakeQueue() = default;
  static void OnEvent(evutil_socket_t, short, void* arg);
  void Drain();

  // std::mutex rather than absl::Mutex: ThreadSanitizer can see it even
  // when Abseil itself is not instrumented.
  std::mutex mu_;
  std::condition_variable idle_;  // signalled when running_ is cleared
  WakeNode* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  WakeNode* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The node whose OnWake is running (reactor thread), so Cancel can wait.
  WakeNode* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread::id running_thread_ ABSL_GUARDED_BY(mu_);
  event* event_ = nullptr;
};

}  // namespace alts

#endif  // ALTS_CONN_WAKE_QUEUE_H_
