// alts-test-labels: threads
// The callback API's steady state allocates nothing per message: a bidi
// stream exchanging messages back and forth (plaintext and ALTS), measured
// with every allocation in the process counted.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/common/alloc_counter.h"
#include "tests/rpc/rpc_test_util.h"

namespace alts::rpc {
namespace {

using alts::testing::Allocations;
using testing::Bytes;
using testing::TestEnv;

constexpr size_t kMessage = 1024;

// Echo writes back every message from a buffer it reuses.
class ReusingEcho final : public ServerCallHandler {
 public:
  explicit ReusingEcho(ServerCall* call) : call_(call) { buf_.reserve(64 * 1024); }
  void OnMessage(absl::Span<const uint8_t> m) override {
    buf_.assign(reinterpret_cast<const char*>(m.data()), m.size());
    (void)call_->Write(Bytes(buf_));
  }
  void OnHalfClose() override { call_->Finish(absl::OkStatus()); }

 private:
  ServerCall* call_;
  std::string buf_;
};

// PingPong sends a message, waits for its echo, and repeats `rounds` times
// per Run; all on the channel's reactor thread.
class PingPong final : public ClientCallHandler {
 public:
  void OnMessage(absl::Span<const uint8_t> m) override {
    if (m.size() != kMessage) bad_ = true;
    if (--left_ > 0) {
      call_->Write(Bytes(msg_));
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      round_done_ = true;
      cv_.notify_all();
    }
  }
  void OnDone(const absl::Status& status, const Metadata&) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    round_done_ = true;
    cv_.notify_all();
  }
  // Run does `rounds` exchanges and returns once they are over.
  void Run(int rounds) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      round_done_ = false;
      left_ = rounds;
    }
    call_->Write(Bytes(msg_));  // hops to the reactor
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return round_done_; });
  }
  void Finish() {
    call_->WritesDone();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }

  ClientCall* call_ = nullptr;
  std::string msg_ = std::string(kMessage, 'p');
  int left_ = 0;
  bool bad_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool round_done_ = false;
  bool done_ = false;
  absl::Status status_;
};

class RpcAllocTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Security, RpcAllocTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Alts" : "Plaintext"; });

TEST_P(RpcAllocTest, BidiMessagesAllocateNothingInSteadyState) {
  TestEnv env(GetParam());
  env.StartServer({}, [](Server& s) {
    ASSERT_TRUE(s.RegisterMethod("/test.Alloc/Echo", [](ServerCall* c) {
                   return std::make_unique<ReusingEcho>(c);
                 }).ok());
  });
  auto ch = env.NewChannel();
  PingPong pp;
  pp.call_ = ch->StartCall("/test.Alloc/Echo", {}, &pp);
  pp.Run(200);  // warm up: pools, caches, HPACK tables, scratch buffers
  const uint64_t before = Allocations();
  pp.Run(2000);
  const uint64_t allocated = Allocations() - before;
  pp.Finish();
  EXPECT_TRUE(pp.status_.ok()) << pp.status_;
  EXPECT_FALSE(pp.bad_);
  // Only the test's own cross-thread hop to start the round may allocate
  // (Reactor::Post); the 2000 exchanges themselves allocate nothing.
  EXPECT_LE(allocated, 2u) << allocated << " allocations over 2000 round trips";
}

}  // namespace
}  // namespace alts::rpc
