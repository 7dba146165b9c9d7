// alts-test-labels: threads
// End to end over loopback TCP: Listen + Dial with real handshakes, then
// authenticated echo; failures are specific and leave the listener serving.
#include "conn/secure_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"
#include "tests/conn/test_sync.h"
#include "tests/handshaker/handshaker_test_util.h"

namespace alts {
namespace {

using ::alts::testing::EchoHandler;
using ::alts::testing::GroupOptions;

// Client sends one message, checks the echo, then closes.
class Client : public ReadyHandler {
 public:
  Client(SecureConnection* conn, std::string msg, std::function<void(bool)> done)
      : conn_(conn), msg_(std::move(msg)), done_(std::move(done)) {}
  void Begin() {
    auto n = conn_->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(msg_.data()),
                                              msg_.size()));
    if (!n.ok() || *n != msg_.size()) Report(false);
  }
  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    got_.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (got_.size() >= msg_.size()) {
      idle_buffers_ = conn_->LeasedBuffers();
      conn_->Close();
    }
  }
  void OnEnd(const absl::Status& status) override {
    Report(status.ok() && got_ == msg_ && idle_buffers_ == 0);
  }

 private:
  void Report(bool ok) {
    if (done_) std::exchange(done_, nullptr)(ok);
  }
  SecureConnection* conn_;
  std::string msg_, got_;
  size_t idle_buffers_ = 99;
  std::function<void(bool)> done_;
};

class SecureListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    group_ = std::move(*ReactorGroup::Create(GroupOptions(2)));
    pool_ = std::move(*BufferPool::Create({}));
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    server_config_ = testing::MakeConfig(pki_.Leaf("server@test"), pki_.Verifier(), nullptr);
    client_config_ = testing::MakeConfig(pki_.Leaf("client@test"), pki_.Verifier(), nullptr);
  }

  void TearDown() override {
    if (listener_) listener_->Close();
    if (dialer_) dialer_->Close();
    // Connections die on their reactor threads.
    ASSERT_TRUE(group_->RunOnAllAndWait([&](Reactor& r) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : conns_) {
        if (c.reactor == &r) {
          c.conn.reset();
          c.handler.reset();
        }
      }
    }).ok());
    group_->Shutdown();
    EXPECT_EQ(pool_->stats().outstanding, 0u);
  }

  void StartListener() {
    ListenOptions options;
    options.resources = &resources_;
    options.limiter = &server_limiter_;
    auto listener = SecureListener::Listen(
        *group_, "127.0.0.1:0", server_config_, options,
        [this](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
          if (!outcome.ok()) {
            std::lock_guard<std::mutex> lock(mu_);
            server_errors_.push_back(outcome.status());
            return;
          }
          EXPECT_EQ(outcome->peer->service_account(), "client@test");
          EXPECT_EQ(outcome->peer->local_service_account(), "server@test");
          Keep(r, std::move(outcome->connection), nullptr, /*echo=*/true);
        });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    DialerOptions dopts;
    dopts.resources = &resources_;
    dopts.limiter = &limiter_;
    dialer_ = std::move(*SecureDialer::Create(*group_, client_config_, dopts));
  }

  // Keep stores a connection and starts it with an echo or a client handler.
  Client* Keep(Reactor& r, std::unique_ptr<SecureConnection> conn, std::function<void(bool)> done,
               bool echo, std::string msg = "") {
    Kept k;
    k.reactor = &r;
    k.conn = std::move(conn);
    Client* client = nullptr;
    if (echo) {
      k.handler = std::make_unique<EchoHandler>(k.conn.get());
    } else {
      auto c = std::make_unique<Client>(k.conn.get(), std::move(msg), std::move(done));
      client = c.get();
      k.handler = std::move(c);
    }
    SecureConnection* raw = k.conn.get();
    ReadyHandler* handler = k.handler.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_.push_back(std::move(k));
    }
    raw->Start(handler);
    return client;
  }

  std::string Address() { return listener_->address().ToString(); }

  testing::TestPki pki_{absl::Now()};
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  // Small caps, separate per side (see ListenOptions::limiter).
  HandshakeLimiter limiter_{8, 10000};
  HandshakeLimiter server_limiter_{8, 10000};
  std::shared_ptr<HandshakerConfig> server_config_, client_config_;
  std::unique_ptr<SecureListener> listener_;
  std::unique_ptr<SecureDialer> dialer_;
  struct Kept {
    Reactor* reactor = nullptr;
    std::unique_ptr<SecureConnection> conn;
    std::unique_ptr<ReadyHandler> handler;
  };
  std::mutex mu_;
  std::vector<Kept> conns_;
  std::vector<absl::Status> server_errors_;
};

TEST_F(SecureListenerTest, AuthenticatedEchoOverManyConnections) {
  StartListener();
  constexpr int kConns = 64;
  std::atomic<int> ok{0}, bad{0};
  TestNotification all;
  std::atomic<int> finished{0};
  auto finish = [&](bool good) {
    (good ? ok : bad)++;
    if (++finished == kConns) all.Notify();
  };
  for (int i = 0; i < kConns; ++i) {
    dialer_->Dial(Address(), HandshakeParams{},
                  [&, i](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
                    if (!outcome.ok()) {
                      ADD_FAILURE() << outcome.status();
                      finish(false);
                      return;
                    }
                    EXPECT_EQ(outcome->peer->service_account(), "server@test");
                    EXPECT_EQ(outcome->peer->record_protocol_name(), "ALTSRP_GCM_AES128_REKEY");
                    EXPECT_EQ(outcome->context().record_protocol(), "ALTSRP_GCM_AES128_REKEY");
                    Client* c = Keep(r, std::move(outcome->connection), finish, false,
                                     std::string(1000 + i * 37, static_cast<char>('a' + i % 26)));
                    c->Begin();
                  },
                  static_cast<uint64_t>(i));
  }
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(ok.load(), kConns);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(listener_->stats().succeeded, static_cast<uint64_t>(kConns));
}

TEST_F(SecureListenerTest, TargetIdentityMismatchFailsAndListenerKeepsServing) {
  StartListener();
  TestNotification first, second;
  absl::Status mismatch;
  HandshakeParams wrong;
  wrong.target_identities.push_back(Identity{"someone-else@test", {}});
  dialer_->Dial(Address(), wrong, [&](Reactor&, absl::StatusOr<EstablishedConnection> outcome) {
    mismatch = outcome.status();
    first.Notify();
  });
  ASSERT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kPermissionDenied) << mismatch;
  HandshakeParams right;
  right.target_identities.push_back(Identity{"server@test", {}});
  bool good = false;
  dialer_->Dial(Address(), right, [&](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    Client* c = Keep(r, std::move(outcome->connection),
                     [&](bool ok) {
                       good = ok;
                       second.Notify();
                     },
                     false, "after a failure");
    c->Begin();
  });
  ASSERT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(good);
}

TEST_F(SecureListenerTest, UntrustedClientIsRejectedWithReason) {
  StartListener();
  testing::TestPki other(absl::Now(), "other-root");
  auto stranger = testing::MakeConfig(other.Leaf("client@test"), other.Verifier(), nullptr);
  DialerOptions dopts;
  dopts.resources = &resources_;
  dopts.limiter = &limiter_;
  auto dialer = std::move(*SecureDialer::Create(*group_, stranger, dopts));
  TestNotification done;
  absl::Status client_status;
  dialer->Dial(Address(), HandshakeParams{},
               [&](Reactor&, absl::StatusOr<EstablishedConnection> outcome) {
                 client_status = outcome.status();
                 done.Notify();
               });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(client_status.ok());
  dialer->Close();
  // The server recorded why (untrusted chain), and still serves.
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!server_errors_.empty()) break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(server_errors_.size(), 1u);
  EXPECT_NE(server_errors_[0].code(), absl::StatusCode::kOk);
}

TEST_F(SecureListenerTest, SilentClientHitsTheHandshakeDeadline) {
  server_config_->deadline = absl::Milliseconds(200);
  StartListener();
  auto address = ParseSocketAddress(Address());
  ASSERT_TRUE(address.ok());
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address->storage), address->length), 0);
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!server_errors_.empty()) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(server_errors_.size(), 1u);
    EXPECT_EQ(server_errors_[0].code(), absl::StatusCode::kDeadlineExceeded);
    // The status names the peer, so a server can log who it dropped.
    EXPECT_THAT(PeerAddressOf(server_errors_[0]), ::testing::StartsWith("127.0.0.1:"));
  }
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);  // the server closed the socket
  close(fd);
}

TEST_F(SecureListenerTest, DialingNothingIsUnavailable) {
  DialerOptions dopts;
  dopts.resources = &resources_;
  dopts.limiter = &limiter_;
  dialer_ = std::move(*SecureDialer::Create(*group_, client_config_, dopts));
  // A port that was just bound and closed: nothing listens there.
  auto a = ParseSocketAddress("127.0.0.1:0");
  int probe = *ListenTcp(*a);
  std::string address = LocalAddress(probe)->ToString();
  close(probe);
  TestNotification done;
  absl::Status status;
  dialer_->Dial(address, HandshakeParams{}, [&](Reactor&, absl::StatusOr<EstablishedConnection> o) {
    status = o.status();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
}  // namespace alts
