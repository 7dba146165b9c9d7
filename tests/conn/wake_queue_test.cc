// alts-test-labels: threads
#include "conn/wake_queue.h"

#include <atomic>
#include <thread>
#include <vector>

#include "conn/reactor.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"
#include "tests/conn/test_sync.h"

namespace alts {
namespace {

using ::alts::testing::GroupOptions;

class Counter : public WakeNode {
 public:
  void OnWake() override {
    count.fetch_add(1);
    if (on_wake) on_wake();
  }
  std::atomic<int> count{0};
  std::function<void()> on_wake;
};

TEST(WakeQueueTest, WakeFromAnotherThreadRunsOnTheReactorThread) {
  auto group = ReactorGroup::Create(GroupOptions(1));
  ASSERT_TRUE(group.ok());
  Reactor& r = (*group)->reactor(0);
  Counter node;
  TestNotification woke;
  std::atomic<bool> on_reactor{false};
  node.on_wake = [&] {
    on_reactor = r.InReactorThread();
    woke.Notify();
  };
  r.wake_queue().Wake(&node);
  ASSERT_TRUE(woke.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(on_reactor.load());
  (*group)->Shutdown();
}

TEST(WakeQueueTest, RepeatedCrossThreadWakesAllArrive) {
  auto group = ReactorGroup::Create(GroupOptions(2));
  ASSERT_TRUE(group.ok());
  constexpr int kNodes = 64;
  std::vector<Counter> nodes(kNodes);
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < kNodes; ++i) {
      (*group)->reactor(i % 2).wake_queue().Wake(&nodes[i]);
    }
    for (int i = 0; i < kNodes; ++i) {
      for (int spin = 0; nodes[i].count.load() <= round && spin < 10000; ++spin) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      ASSERT_GT(nodes[i].count.load(), round) << "node " << i << " round " << round;
    }
  }
  ASSERT_TRUE((*group)->RunOnAllAndWait([&](Reactor& r) {
    for (auto& n : nodes) r.wake_queue().Cancel(&n);
  }).ok());
  (*group)->Shutdown();
}

TEST(WakeQueueTest, CancelRemovesAQueuedNode) {
  auto reactor = Reactor::CreateUnthreaded();
  ASSERT_TRUE(reactor.ok());
  Counter a, b;
  (*reactor)->wake_queue().Wake(&a);
  (*reactor)->wake_queue().Wake(&b);
  (*reactor)->wake_queue().Wake(&a);  // already queued: no second wake
  (*reactor)->wake_queue().Cancel(&b);
  ASSERT_TRUE((*reactor)->RunUntil([&] { return a.count.load() == 1; }, absl::Seconds(5)).ok());
  (void)(*reactor)->RunUntil([] { return false; }, absl::Milliseconds(20));
  EXPECT_EQ(a.count.load(), 1);
  EXPECT_EQ(b.count.load(), 0);
}

}  // namespace
}  // namespace alts
