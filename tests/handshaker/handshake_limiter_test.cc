#include "handshaker/handshake_limiter.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace alts {
namespace {

class RecordingWaiter : public HandshakeLimiter::Waiter {
 public:
  void OnSlotGranted(HandshakeLimiter::Slot slot) override {
    ++granted;
    this->slot = std::move(slot);
  }
  int granted = 0;
  HandshakeLimiter::Slot slot;
};

TEST(HandshakeLimiterTest, CapsAndQueuesInOrder) {
  HandshakeLimiter limiter(2, 10);
  std::optional<HandshakeLimiter::Slot> a = limiter.TryAcquire();
  std::optional<HandshakeLimiter::Slot> b = limiter.TryAcquire();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_FALSE(limiter.TryAcquire().has_value());
  EXPECT_EQ(limiter.in_use(), 2u);

  RecordingWaiter w1, w2;
  absl::StatusOr<HandshakeLimiter::Slot> q1 = limiter.AcquireOrQueue(&w1);
  absl::StatusOr<HandshakeLimiter::Slot> q2 = limiter.AcquireOrQueue(&w2);
  ASSERT_TRUE(q1.ok() && q2.ok());
  EXPECT_FALSE(q1->held());
  EXPECT_EQ(limiter.queued(), 2u);
  EXPECT_EQ(limiter.AcquireOrQueue(&w1).status().code(), absl::StatusCode::kFailedPrecondition);

  a->Release();  // goes straight to w1, first in line
  EXPECT_EQ(w1.granted, 1);
  EXPECT_EQ(w2.granted, 0);
  EXPECT_TRUE(w1.slot.held());
  EXPECT_EQ(limiter.in_use(), 2u);
  // Nobody may jump the queue while w2 waits.
  EXPECT_FALSE(limiter.TryAcquire().has_value());
  b.reset();
  EXPECT_EQ(w2.granted, 1);
  w1.slot.Release();
  w2.slot = HandshakeLimiter::Slot();
  EXPECT_EQ(limiter.in_use(), 0u);
  EXPECT_EQ(limiter.queued(), 0u);
}

TEST(HandshakeLimiterTest, BoundedQueueAndCancel) {
  HandshakeLimiter limiter(1, 2);
  RecordingWaiter first;
  absl::StatusOr<HandshakeLimiter::Slot> held = limiter.AcquireOrQueue(&first);
  ASSERT_TRUE(held.ok() && held->held());
  RecordingWaiter w1, w2, w3;
  ASSERT_TRUE(limiter.AcquireOrQueue(&w1).ok());
  ASSERT_TRUE(limiter.AcquireOrQueue(&w2).ok());
  EXPECT_EQ(limiter.AcquireOrQueue(&w3).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(limiter.Cancel(&w1));
  EXPECT_FALSE(limiter.Cancel(&w1));
  EXPECT_EQ(limiter.queued(), 1u);
  held->Release();
  EXPECT_EQ(w1.granted, 0);
  EXPECT_EQ(w2.granted, 1);
  EXPECT_FALSE(limiter.Cancel(&w2));  // already granted
  w2.slot.Release();
  EXPECT_EQ(limiter.in_use(), 0u);
}

// A waiter that releases its slot inside the callback hands it to the next
// waiter after returning, not recursively.
TEST(HandshakeLimiterTest, ReleasingInsideTheCallbackDoesNotRecurse) {
  HandshakeLimiter limiter(1, 100000);
  struct Releaser : HandshakeLimiter::Waiter {
    void OnSlotGranted(HandshakeLimiter::Slot slot) override {
      ++(*depth);
      *max_depth = std::max(*max_depth, *depth);
      slot.Release();
      --(*depth);
      ++granted;
    }
    int* depth;
    int* max_depth;
    int granted = 0;
  };
  int depth = 0, max_depth = 0;
  std::vector<Releaser> waiters(50000);
  std::optional<HandshakeLimiter::Slot> held = limiter.TryAcquire();
  for (Releaser& w : waiters) {
    w.depth = &depth;
    w.max_depth = &max_depth;
    ASSERT_FALSE(limiter.AcquireOrQueue(&w)->held());
  }
  held.reset();
  EXPECT_EQ(max_depth, 1);
  for (const Releaser& w : waiters) EXPECT_EQ(w.granted, 1);
  EXPECT_EQ(limiter.in_use(), 0u);
}

TEST(HandshakeLimiterTest, EnvironmentValue) {
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv(nullptr), 100u);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv(""), 100u);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv("abc"), 100u);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv("0"), 100u);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv("-3"), 100u);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnv("7"), 7u);
  EXPECT_EQ(HandshakeLimiter::Global().max_concurrent(),
            HandshakeLimiter::MaxConcurrentFromEnvironment());
}

// The variable is gRPC's name, GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES.
TEST(HandshakeLimiterTest, ReadsGrpcVariableName) {
  EXPECT_STREQ(kMaxConcurrentHandshakesEnv, "GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES");
  const char* saved = std::getenv("GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES");
  const std::string restore = saved != nullptr ? saved : "";
  ASSERT_EQ(setenv("GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES", "17", 1), 0);
  ASSERT_EQ(setenv("ALTS_MAX_CONCURRENT_HANDSHAKES", "23", 1), 0);
  EXPECT_EQ(HandshakeLimiter::MaxConcurrentFromEnvironment(), 17u);
  unsetenv("ALTS_MAX_CONCURRENT_HANDSHAKES");
  if (saved != nullptr) {
    setenv("GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES", restore.c_str(), 1);
  } else {
    unsetenv("GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES");
  }
}

}  // namespace
}  // namespace alts
