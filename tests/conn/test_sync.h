#ifndef ALTS_TESTS_CONN_TEST_SYNC_H_
#define ALTS_TESTS_CONN_TEST_SYNC_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace alts {

// TestNotification is absl::Notification on std primitives, which
// ThreadSanitizer understands even when Abseil is not instrumented.
class TestNotification {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  void WaitForNotification() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return notified_; });
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace alts

#endif  // ALTS_TESTS_CONN_TEST_SYNC_H_
