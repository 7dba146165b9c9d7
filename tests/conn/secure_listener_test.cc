// alts-test-labels: threads
// End to end over loopback TCP: Listen + Dial with real handshakes, then
// authenticated echo; failures are specific and leave the listener serving.
#include "conn/secure_listener.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
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
    ListenOptions options = listen_options_;
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

  // ConnectRaw opens a plain TCP connection to the listener (no handshake).
  int ConnectRaw() {
    auto address = ParseSocketAddress(Address());
    EXPECT_TRUE(address.ok());
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address->storage), address->length),
              0);
    return fd;
  }

  // WaitFor polls `done` (an observable state) until it holds or `timeout`.
  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
    for (absl::Time until = absl::Now() + timeout; absl::Now() < until;) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return done();
  }

  // Dial runs one client handshake and echo; returns its status.
  absl::Status DialAndEcho(absl::Duration timeout) {
    TestNotification done;
    absl::Status status = absl::DeadlineExceededError("no outcome in time");
    std::mutex m;
    dialer_->Dial(Address(), HandshakeParams{},
                  [&](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
                    if (!outcome.ok()) {
                      // A fresh status: the outcome's own one (shared
                      // representation) is freed on this thread, and
                      // Debian's Abseil is not instrumented for TSan.
                      std::lock_guard<std::mutex> lock(m);
                      status = absl::Status(outcome.status().code(),
                                            std::string(outcome.status().message()));
                      done.Notify();
                      return;
                    }
                    Client* c = Keep(r, std::move(outcome->connection),
                                     [&](bool ok) {
                                       std::lock_guard<std::mutex> lock(m);
                                       status = ok ? absl::OkStatus()
                                                   : absl::DataLossError("echo failed");
                                       done.Notify();
                                     },
                                     false, "hello");
                    c->Begin();
                  });
    const bool notified = done.WaitForNotificationWithTimeout(timeout);
    std::lock_guard<std::mutex> lock(m);
    return notified ? status : absl::DeadlineExceededError("no outcome in time");
  }

  std::vector<absl::Status> ServerErrors() {
    std::lock_guard<std::mutex> lock(mu_);
    return server_errors_;
  }

  ListenOptions listen_options_;

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

// A connection that has sent nothing holds no handshake slot: more silent
// connections than the cap do not keep a real client waiting for their
// deadline (30 s here).
TEST_F(SecureListenerTest, SilentConnectionsHoldNoHandshakeSlot) {
  StartListener();
  std::vector<int> silent;
  for (int i = 0; i < 10; ++i) silent.push_back(ConnectRaw());  // cap is 8
  ASSERT_TRUE(WaitFor([&] { return listener_->stats().started == 10; }, absl::Seconds(10)));
  EXPECT_EQ(server_limiter_.in_use(), 0u);
  EXPECT_EQ(server_limiter_.queued(), 0u);
  EXPECT_TRUE(DialAndEcho(absl::Seconds(20)).ok());
  // The first byte takes a slot (the handshake then waits for the rest).
  ASSERT_EQ(send(silent[0], "\x01", 1, MSG_NOSIGNAL), 1);
  EXPECT_TRUE(WaitFor([&] { return server_limiter_.in_use() == 1; }, absl::Seconds(10)));
  for (int fd : silent) close(fd);
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().in_progress == 0; }, absl::Seconds(10)));
  EXPECT_EQ(server_limiter_.in_use(), 0u);
  for (const absl::Status& s : ServerErrors()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
}

// One source may have at most max_handshakes_per_source handshakes in
// progress; the next connection is closed at once with kResourceExhausted,
// and the source gets its room back as its handshakes end.
TEST_F(SecureListenerTest, PerSourceCapRefusesTheExcess) {
  listen_options_.max_handshakes_per_source = 2;
  StartListener();
  const SourceKey loopback = SourceKeyOf(*ParseSocketAddress("127.0.0.1:1"));
  const int a = ConnectRaw();
  const int b = ConnectRaw();
  ASSERT_TRUE(WaitFor([&] { return listener_->handshakes_from(loopback) == 2; },
                      absl::Seconds(10)));
  const int c = ConnectRaw();
  ASSERT_TRUE(WaitFor([&] { return !ServerErrors().empty(); }, absl::Seconds(10)));
  std::vector<absl::Status> errors = ServerErrors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), absl::StatusCode::kResourceExhausted) << errors[0];
  EXPECT_THAT(PeerAddressOf(errors[0]), ::testing::StartsWith("127.0.0.1:"));
  char byte;
  EXPECT_EQ(read(c, &byte, 1), 0);  // closed by the server
  EXPECT_EQ(listener_->handshakes_from(loopback), 2u);
  // A real client from the same source is refused too, until one ends.
  EXPECT_FALSE(DialAndEcho(absl::Seconds(20)).ok());
  close(a);
  ASSERT_TRUE(WaitFor([&] { return listener_->handshakes_from(loopback) == 1; },
                      absl::Seconds(10)));
  EXPECT_TRUE(DialAndEcho(absl::Seconds(20)).ok());
  close(b);
  close(c);
  EXPECT_TRUE(WaitFor([&] { return listener_->handshakes_from(loopback) == 0; },
                      absl::Seconds(10)));
  EXPECT_EQ(listener_->stats().in_progress, 0u);
}

// accept() out of descriptors leaves the listening socket readable; the
// listener must back off instead of spinning on it, then accept again once
// descriptors are free.
TEST_F(SecureListenerTest, AcceptOutOfDescriptorsBacksOffAndRecovers) {
  StartListener();
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  auto address = ParseSocketAddress(Address());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Use up every descriptor the soft limit allows.
  std::vector<int> hogs;
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(client) + 64;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (;;) {
    const int fd = dup(client);
    if (fd < 0) break;
    hogs.push_back(fd);
  }
  ASSERT_EQ(errno, EMFILE);
  ASSERT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&address->storage), address->length),
            0);
  // Three pauses take ~35 ms of backoff; a spinning listener makes
  // thousands of failed accepts in that time.
  const bool settled = WaitFor(
      [&] { return listener_->accept_pauses() >= 3 || listener_->accept_errors() > 1000; },
      absl::Seconds(10));
  const uint64_t errors = listener_->accept_errors();
  const uint64_t pauses = listener_->accept_pauses();
  for (int fd : hogs) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(settled);
  EXPECT_GE(pauses, 3u);
  EXPECT_LE(errors, pauses + 1) << "accept() was retried without backing off";
  // Descriptors are back: the pending connection is accepted.
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().started == 1; }, absl::Seconds(10)));
  close(client);
  EXPECT_TRUE(DialAndEcho(absl::Seconds(20)).ok());
}

}  // namespace
}  // namespace alts
