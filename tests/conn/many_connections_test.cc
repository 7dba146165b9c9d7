// alts-test-labels: threads
// Thousands of secure connections on a two-thread reactor group exchange
// messages; every byte must arrive, and afterwards no buffer is outstanding.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/wake_queue.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"
#include "tests/conn/test_sync.h"

namespace alts {
namespace {

using ::alts::testing::GroupOptions;
using ::alts::testing::RaiseFdLimit;
using ::alts::testing::TestProtector;

#ifdef ALTS_SANITIZER_BUILD
constexpr int kPairs = 600;  // sanitizers make every byte ~10x dearer
#else
constexpr int kPairs = 2000;
#endif
constexpr int kRounds = 3;

struct Shared {
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  TestNotification all_done;
};

// Endpoint: the server side echoes; the client side sends kRounds messages
// of random sizes, one at a time, and checks each echo byte for byte.
class Endpoint : public ReadyHandler {
 public:
  Endpoint(bool client, uint32_t seed, Shared* shared)
      : client_(client), rng_(seed), shared_(shared) {}

  void Begin() {
    if (client_) SendNext();
  }

  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    if (!client_) {
      Queue(data);
      return;
    }
    received_.insert(received_.end(), data.begin(), data.end());
    if (received_.size() < expected_.size()) return;
    if (received_ != expected_) shared_->errors++;
    if (++round_ == kRounds) {
      conn->Close();
      return;
    }
    SendNext();
  }

  void OnWritable() override { Queue({}); }

  void OnEnd(const absl::Status& status) override {
    if (!status.ok()) shared_->errors++;
    if (!client_) {
      conn->Close();
      return;
    }
    if (round_ != kRounds) shared_->errors++;
    if (shared_->done.fetch_add(1) + 1 == kPairs) shared_->all_done.Notify();
  }

  SecureConnection* conn = nullptr;

 private:
  void SendNext() {
    expected_.resize(1 + rng_() % 40000);
    for (auto& b : expected_) b = static_cast<uint8_t>(rng_());
    received_.clear();
    Queue(expected_);
  }

  void Queue(absl::Span<const uint8_t> data) {
    out_.insert(out_.end(), data.begin(), data.end());
    while (!out_.empty()) {
      auto n = conn->Write(out_);
      if (!n.ok()) {
        shared_->errors++;
        return;
      }
      if (*n == 0) return;  // OnWritable will follow
      out_.erase(out_.begin(), out_.begin() + static_cast<long>(*n));
    }
  }

  bool client_;
  std::mt19937 rng_;
  Shared* shared_;
  int round_ = 0;
  std::vector<uint8_t> expected_, received_, out_;
};

TEST(ManyConnectionsTest, TwoThousandPairsOnTwoReactors) {
  ASSERT_GE(RaiseFdLimit(2 * kPairs + 100), static_cast<rlim_t>(2 * kPairs + 100))
      << "need " << 2 * kPairs + 100 << " fds";
  auto group = ReactorGroup::Create(GroupOptions(2));
  ASSERT_TRUE(group.ok());
  auto pool = BufferPool::Create({});
  auto storage = StoragePool::Create();
  ASSERT_TRUE(pool.ok() && storage.ok());
  ConnectionResources resources{pool->get(), storage->get(), {}};

  Shared shared;
  struct Pair {
    std::unique_ptr<Endpoint> client_h, server_h;
    std::unique_ptr<SecureConnection> client, server;
  };
  std::vector<Pair> pairs(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    Pair& p = pairs[i];
    p.client_h = std::make_unique<Endpoint>(true, 1000 + i, &shared);
    p.server_h = std::make_unique<Endpoint>(false, 0, &shared);
    // Client and server of a pair land on different reactors.
    Reactor& rc = (*group)->reactor(i % 2);
    Reactor& rs = (*group)->reactor((i + 1) % 2);
    rs.Post([&p, &rs, &resources, fd = fds[1]] {
      p.server =
          std::move(*SecureConnection::Create(rs, fd, TestProtector(Side::kServer), &resources));
      p.server_h->conn = p.server.get();
      p.server->Start(p.server_h.get());
    });
    rc.Post([&p, &rc, &resources, fd = fds[0]] {
      p.client =
          std::move(*SecureConnection::Create(rc, fd, TestProtector(Side::kClient), &resources));
      p.client_h->conn = p.client.get();
      p.client->Start(p.client_h.get());
      p.client_h->Begin();
    });
  }
  ASSERT_TRUE(shared.all_done.WaitForNotificationWithTimeout(absl::Seconds(240)))
      << "only " << shared.done.load() << " of " << kPairs << " finished";
  EXPECT_EQ(shared.errors.load(), 0);

  // Tear down on the owning threads, then every buffer must be home.
  ASSERT_TRUE((*group)->RunOnAllAndWait([&](Reactor& r) {
    for (int i = 0; i < kPairs; ++i) {
      if (static_cast<size_t>(i % 2) == r.index()) pairs[i].client.reset();
      if (static_cast<size_t>((i + 1) % 2) == r.index()) pairs[i].server.reset();
    }
  }).ok());
  (*group)->Shutdown();
  const BufferPoolStats stats = (*pool)->stats();
  EXPECT_EQ(stats.outstanding, 0u);
  EXPECT_EQ((*storage)->OutstandingBytes(), 0u);
  EXPECT_GT(stats.high_water_outstanding, 0u);
}

}  // namespace
}  // namespace alts
