// alts-test-labels: threads
#include <atomic>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "handshaker/handshake_limiter.h"

namespace alts {
namespace {

// Many threads run "handshakes" through a small limiter; the number running
// at once never exceeds the cap and every queued handshake eventually runs.
TEST(HandshakeLimiterThreadsTest, NeverExceedsTheCap) {
  constexpr size_t kCap = 3;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  HandshakeLimiter limiter(kCap, kThreads * kPerThread);
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> completed{0};

  auto run_one = [&](HandshakeLimiter::Slot slot) {
    const int now = ++running;
    int seen = max_running.load();
    while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
    }
    --running;
    ++completed;
    slot.Release();
  };

  struct Waiter : HandshakeLimiter::Waiter {
    explicit Waiter(std::function<void(HandshakeLimiter::Slot)>* run) : run(run) {}
    void OnSlotGranted(HandshakeLimiter::Slot slot) override {
      (*run)(std::move(slot));
      done.set_value();
    }
    std::function<void(HandshakeLimiter::Slot)>* run;
    std::promise<void> done;
  };
  std::function<void(HandshakeLimiter::Slot)> run = run_one;

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        Waiter waiter(&run);
        absl::StatusOr<HandshakeLimiter::Slot> slot = limiter.AcquireOrQueue(&waiter);
        ASSERT_TRUE(slot.ok());
        if (slot->held()) {
          run(std::move(*slot));
        } else {
          // Wait until a releasing thread handed us the slot and we ran.
          waiter.done.get_future().wait();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(completed.load(), kThreads * kPerThread);
  EXPECT_LE(max_running.load(), static_cast<int>(kCap));
  EXPECT_EQ(limiter.in_use(), 0u);
  EXPECT_EQ(limiter.queued(), 0u);
}

}  // namespace
}  // namespace alts
