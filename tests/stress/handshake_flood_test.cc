// alts-test-labels: threads long
// A handshake flood against one listener: a handshake cap of 8 with a queue
// of 32, 50 idle clients (connect, send nothing), 100 stalled clients (send
// the first byte of a ClientInit, then nothing) and 400 real ones. Idle
// clients hold no handshake slot (a server takes one only once the client's
// first bytes are in); the stalled ones fill the cap and the queue and the
// excess is refused with kResourceExhausted; idle and stalled clients time
// out with kDeadlineExceeded and are closed, every client hears exactly one
// outcome, and an echo connection established before the flood keeps
// round-tripping throughout.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_listener.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "tests/handshaker/handshaker_test_util.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kServerCap / kServerQueue: the listener's handshake limiter.
constexpr size_t kServerCap = 8;
constexpr size_t kServerQueue = 32;
// kIdleClients send nothing at all: they must take no slot.
constexpr int kIdleClients = 50;
// kSilentClients (stalled after one byte) must exceed kServerCap +
// kServerQueue so the flood is refused in part however fast the reactors are.
constexpr int kSilentClients = 100;
constexpr int kRealClients = Scaled(400);
// kDialInterval spreads the real clients over about two seconds, across
// the silent clients' deadline, so some arrive while every slot is held
// and some after.
constexpr absl::Duration kDialInterval = absl::Milliseconds(kSanitizerBuild ? 20 : 5);
// kServerDeadline: the handshake deadline the silent clients run into.
constexpr absl::Duration kServerDeadline = absl::Seconds(1);
// kClientDeadline: long enough that a real client is never the one that
// gives up.
constexpr absl::Duration kClientDeadline = absl::Seconds(30);
// kMessageSize: what each real client echoes once connected.
constexpr size_t kMessageSize = 1024;
// kPingSize / kPingGap: the established connection's round trips.
constexpr size_t kPingSize = 64;
constexpr absl::Duration kPingGap = absl::Milliseconds(5);
// kMaxPingLatency: a generous bound on one round trip during the flood (it
// is about a millisecond on an idle machine); far above scheduling noise,
// far below what a reactor stalled by the flood would show.
constexpr absl::Duration kMaxPingLatency = absl::Seconds(kSanitizerBuild ? 10 : 2);
// kFloodTimeout: every outcome must be in by then.
constexpr absl::Duration kFloodTimeout = absl::Seconds(60);

// Pinger sends kPingSize bytes per Ping and counts the echo.
class Pinger : public ReadyHandler {
 public:
  explicit Pinger(SecureConnection* conn) : conn_(conn) {}

  // Ping writes one ping; call on the connection's reactor.
  void Ping() {
    std::vector<uint8_t> ping(kPingSize, static_cast<uint8_t>(sent_ / kPingSize));
    sent_ += kPingSize;
    absl::StatusOr<size_t> n = conn_->Write(ping);
    if (!n.ok() || *n != kPingSize) Note(false);
  }

  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    for (uint8_t b : data) {
      if (b != static_cast<uint8_t>(echoed_ / kPingSize)) Note(false);
      ++echoed_;
    }
    std::lock_guard<std::mutex> lock(mu_);
    echoed_total_ = echoed_;
    cv_.notify_all();
  }

  void OnEnd(const absl::Status& status) override { Note(false); }

  // WaitForEcho waits until `bytes` have come back; false on timeout or
  // failure.
  bool WaitForEcho(size_t bytes, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                        [&] { return failed_ || echoed_total_ >= bytes; }) &&
           !failed_;
  }

 private:
  void Note(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) failed_ = true;
    cv_.notify_all();
  }

  SecureConnection* conn_;
  size_t sent_ = 0;    // reactor thread
  size_t echoed_ = 0;  // reactor thread
  std::mutex mu_;
  std::condition_variable cv_;
  size_t echoed_total_ = 0;  // guarded by mu_
  bool failed_ = false;      // guarded by mu_
};

class HandshakeFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(RaiseFdLimit(), static_cast<size_t>(4 * (kSilentClients + kRealClients)));
    fds_before_ = CountOpenFds();
    ReactorGroupOptions group_options;
    group_options.threads = 2;
    group_ = std::move(*ReactorGroup::Create(std::move(group_options)));
    pool_ = std::move(*BufferPool::Create({}));
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    server_config_ = MakeConfig(pki_.Leaf("server@flood"), pki_.Verifier(), nullptr);
    client_config_ = MakeConfig(pki_.Leaf("client@flood"), pki_.Verifier(), nullptr);
    server_config_->deadline = kServerDeadline;
    client_config_->deadline = kClientDeadline;
  }

  void TearDown() override {
    if (group_ == nullptr) return;  // the test tore down itself
    DestroyKept();
    group_->Shutdown();
  }

  // Keep stores a connection and its handler; both die on their reactor.
  void Keep(Reactor& r, std::unique_ptr<SecureConnection> conn,
            std::unique_ptr<ReadyHandler> handler) {
    kept_.Keep(r, std::move(conn), std::move(handler));
  }

  void DestroyKept() { ASSERT_TRUE(kept_.DestroyOn(*group_).ok()); }


  int fds_before_ = 0;
  TestPki pki_{absl::Now()};
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::shared_ptr<HandshakerConfig> server_config_, client_config_;
  KeptConnections kept_;
};

TEST_F(HandshakeFloodTest, BoundedQueueTimeoutsAndEstablishedConnectionsKeepServing) {
  const absl::Time test_start = absl::Now();
  HandshakeLimiter server_limiter(kServerCap, kServerQueue);
  // The clients' own cap is far above the server's: the server is what the
  // flood tests.
  HandshakeLimiter client_limiter(1024, 10000);

  std::mutex outcomes_mu;
  std::condition_variable outcomes_cv;
  std::map<absl::StatusCode, int> server_codes;  // guarded by outcomes_mu
  std::map<absl::StatusCode, int> client_codes;  // handshake outcomes
  int echoes_ok = 0;
  std::map<absl::StatusCode, int> echo_failures;  // by the client's end code

  ListenOptions options;
  options.resources = &resources_;
  options.limiter = &server_limiter;
  // Every client here comes from 127.0.0.1: no per-source cap (the cap has
  // its own test in tests/conn/secure_listener_test.cc).
  options.max_handshakes_per_source = 0;
  auto listener = SecureListener::Listen(
      *group_, "127.0.0.1:0", server_config_, options,
      [&](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
        {
          std::lock_guard<std::mutex> lock(outcomes_mu);
          server_codes[outcome.status().code()]++;
          outcomes_cv.notify_all();
        }
        if (!outcome.ok()) return;
        auto echo = std::make_unique<Echo>(outcome->connection.get(), nullptr, nullptr);
        outcome->connection->Start(echo.get());
        Keep(r, std::move(outcome->connection), std::move(echo));
      });
  ASSERT_TRUE(listener.ok()) << listener.status();
  const std::string address = (*listener)->address().ToString();
  DialerOptions dopts;
  dopts.resources = &resources_;
  dopts.limiter = &client_limiter;
  auto dialer = std::move(*SecureDialer::Create(*group_, client_config_, dopts));

  // 1. The established connection, before the flood.
  std::atomic<Pinger*> pinger{nullptr};
  std::atomic<Reactor*> pinger_reactor{nullptr};
  {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    dialer->Dial(address, HandshakeParams{},
                 [&](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
                   ASSERT_TRUE(outcome.ok()) << outcome.status();
                   auto p = std::make_unique<Pinger>(outcome->connection.get());
                   outcome->connection->Start(p.get());
                   pinger = p.get();
                   pinger_reactor = &r;
                   Keep(r, std::move(outcome->connection), std::move(p));
                   std::lock_guard<std::mutex> lock(m);
                   done = true;
                   cv.notify_all();
                 });
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }));
  }
  ASSERT_NE(pinger.load(), nullptr);
  size_t pings = 0;
  absl::Duration max_latency;
  auto ping_once = [&]() {
    const absl::Time t0 = absl::Now();
    Pinger* p = pinger.load();
    ASSERT_TRUE(pinger_reactor.load()->Post([p] { p->Ping(); }));
    ++pings;
    ASSERT_TRUE(p->WaitForEcho(pings * kPingSize, absl::Seconds(30)))
        << "the established connection stopped serving";
    max_latency = std::max(max_latency, absl::Now() - t0);
  };
  ping_once();
  ASSERT_FALSE(HasFatalFailure());

  // 2a. Idle clients: connect and send nothing. They hold no slot.
  auto parsed = ParseSocketAddress(address);
  ASSERT_TRUE(parsed.ok());
  std::vector<int> silent;
  const absl::Time silent_start = absl::Now();
  auto connect_one = [&]() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&parsed->storage), parsed->length), 0)
        << strerror(errno);
    silent.push_back(fd);
    return fd;
  };
  for (int i = 0; i < kIdleClients; ++i) connect_one();
  for (absl::Time until = absl::Now() + absl::Seconds(30);
       (*listener)->stats().started < 1 + kIdleClients && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ((*listener)->stats().started, 1u + kIdleClients);
  EXPECT_EQ(server_limiter.in_use(), 0u) << "a connection that sent nothing holds a slot";
  EXPECT_EQ(server_limiter.queued(), 0u);
  // 2b. Stalled clients: the first byte of a ClientInit, then nothing. The
  // first kServerCap take the slots, the next kServerQueue queue, the rest
  // are refused at once.
  for (int i = 0; i < kSilentClients; ++i) {
    const int fd = connect_one();
    ASSERT_EQ(send(fd, "\x01", 1, MSG_NOSIGNAL), 1);
  }
  ASSERT_FALSE(HasFailure());
  // Wait until the listener has taken them all in and every refusal has
  // reached the callback (each handshake started is either in progress or
  // has had its outcome delivered, and every stalled client's byte has been
  // seen: it holds a slot, waits in the queue or was refused).
  const uint64_t before_flood = 1 + kIdleClients + kSilentClients;
  auto settled = [&] {
    const HandshakeStats stats = (*listener)->stats();
    std::lock_guard<std::mutex> lock(outcomes_mu);
    uint64_t delivered = 0;
    for (const auto& [code, n] : server_codes) delivered += static_cast<uint64_t>(n);
    return stats.started == before_flood && delivered + stats.in_progress == before_flood &&
           server_limiter.in_use() + server_limiter.queued() +
                   static_cast<uint64_t>(server_codes[absl::StatusCode::kResourceExhausted]) ==
               static_cast<uint64_t>(kSilentClients);
  };
  for (absl::Time until = absl::Now() + absl::Seconds(30); !settled() && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(settled()) << "the listener did not take in every silent client";
  // Unless taking them in was slow (a loaded machine, sanitizers), no
  // silent client can have timed out yet and the counts are exact.
  const bool exact = absl::Now() - silent_start < kServerDeadline / 2;
  if (exact) {
    std::lock_guard<std::mutex> lock(outcomes_mu);
    EXPECT_EQ(server_limiter.in_use(), kServerCap);
    EXPECT_EQ(server_limiter.queued(), kServerQueue);
    EXPECT_EQ(server_codes[absl::StatusCode::kResourceExhausted],
              kSilentClients - static_cast<int>(kServerCap + kServerQueue));
  } else {
    std::cout << "[ note     ] accepting the silent clients took longer than half the "
                 "deadline; exact queue counts not checked\n";
  }

  // 3. The real clients, dialed from another thread over ~2 s while the
  // established connection keeps pinging.
  std::atomic<int> dials_done{0};
  std::thread flood([&] {
    for (int i = 0; i < kRealClients; ++i) {
      const std::vector<uint8_t> message = RandomBytes(kMessageSize, static_cast<uint64_t>(i));
      dialer->Dial(
          address, HandshakeParams{},
          [&, message](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
            {
              std::lock_guard<std::mutex> lock(outcomes_mu);
              client_codes[outcome.status().code()]++;
              if (!outcome.ok()) {
                outcomes_cv.notify_all();
                return;
              }
            }
            SecureConnection* conn = outcome->connection.get();
            // The report reads the sender through a cell set once it exists.
            auto cell = std::make_shared<Sender*>(nullptr);
            auto sender = std::make_unique<Sender>(conn, message, 0, [&, cell] {
              const Sender* s = *cell;
              std::lock_guard<std::mutex> lock(outcomes_mu);
              if (s->status().ok() && s->echoed() == kMessageSize && !s->corrupted()) {
                echoes_ok++;
              } else {
                echo_failures[s->status().code()]++;
              }
              outcomes_cv.notify_all();
            });
            Sender* s = sender.get();
            *cell = s;
            conn->Start(s);
            Keep(r, std::move(outcome->connection), std::move(sender));
            s->Begin();
          },
          static_cast<uint64_t>(i));
      dials_done++;
      absl::SleepFor(kDialInterval);
    }
  });
  size_t max_in_use = 0, max_queued = 0;
  while (dials_done.load() < kRealClients) {
    max_in_use = std::max(max_in_use, server_limiter.in_use());
    max_queued = std::max(max_queued, server_limiter.queued());
    ping_once();
    if (HasFatalFailure()) break;
    absl::SleepFor(kPingGap);
  }
  flood.join();
  ASSERT_FALSE(HasFatalFailure());

  // 4. Every client hears exactly one outcome; every connection echoes.
  const uint64_t total = 1 + kIdleClients + kSilentClients + kRealClients;
  {
    std::unique_lock<std::mutex> lock(outcomes_mu);
    const bool all_in = outcomes_cv.wait_for(lock, absl::ToChronoMilliseconds(kFloodTimeout), [&] {
      int server_total = 0, client_total = 0;
      for (const auto& [code, n] : server_codes) server_total += n;
      for (const auto& [code, n] : client_codes) client_total += n;
      int echoes_failed = 0;
      for (const auto& [code, n] : echo_failures) echoes_failed += n;
      return server_total == static_cast<int>(total) && client_total == kRealClients &&
             echoes_ok + echoes_failed == client_codes[absl::StatusCode::kOk];
    });
    ASSERT_TRUE(all_in) << "outcomes missing";
  }
  ping_once();  // still serving after the flood
  const HandshakeStats stats = (*listener)->stats();
  EXPECT_EQ(stats.started, total);
  EXPECT_EQ(stats.in_progress, 0u);
  EXPECT_LE(max_in_use, kServerCap);
  EXPECT_LE(max_queued, kServerQueue);
  EXPECT_EQ(server_limiter.in_use(), 0u);
  EXPECT_EQ(server_limiter.queued(), 0u);
  EXPECT_LE(max_latency, kMaxPingLatency);

  std::lock_guard<std::mutex> lock(outcomes_mu);
  // Server side: the silent clients that got in time out, the excess is
  // refused, nothing else fails.
  for (const auto& [code, n] : server_codes) {
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kResourceExhausted ||
                code == absl::StatusCode::kDeadlineExceeded)
        << "server outcome " << absl::StatusCodeToString(code) << " x" << n;
  }
  EXPECT_GE(server_codes[absl::StatusCode::kDeadlineExceeded],
            kIdleClients + static_cast<int>(kServerCap + kServerQueue));
  if (exact) {
    EXPECT_GE(server_codes[absl::StatusCode::kResourceExhausted],
              kSilentClients - static_cast<int>(kServerCap + kServerQueue));
  }
  // Client side: a refused or timed-out server half closes the socket, which
  // the client reads as kUnavailable; the rest succeed and echo intact.
  for (const auto& [code, n] : client_codes) {
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kUnavailable)
        << "client outcome " << absl::StatusCodeToString(code) << " x" << n;
  }
  // Every server-side success (but the pinger's) echoes intact. A client
  // can finish its handshake (ClientFinished sent) while its server half
  // runs out of time just before verifying it; that client then reads the
  // close as kUnavailable on its first read. No other echo may fail.
  const int server_ok = server_codes[absl::StatusCode::kOk];
  const int client_ok = client_codes[absl::StatusCode::kOk];
  EXPECT_EQ(echoes_ok, server_ok - 1);
  EXPECT_GE(client_ok, server_ok - 1);
  int echoes_failed = 0;
  for (const auto& [code, n] : echo_failures) {
    EXPECT_EQ(code, absl::StatusCode::kUnavailable) << "an echo failed with " << n << " x "
                                                    << absl::StatusCodeToString(code);
    echoes_failed += n;
  }
  EXPECT_EQ(echoes_failed, client_ok - (server_ok - 1));
  EXPECT_GT(echoes_ok, 0);

  // The server closed every silent client.
  for (int fd : silent) {
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 10000), 1);
    char c;
    EXPECT_LE(recv(fd, &c, 1, 0), 0) << "a silent client got bytes";
    close(fd);
  }

  std::string server_summary, client_summary;
  for (const auto& [code, n] : server_codes) {
    absl::StrAppend(&server_summary, " ", absl::StatusCodeToString(code), "=", n);
  }
  for (const auto& [code, n] : client_codes) {
    absl::StrAppend(&client_summary, " ", absl::StatusCodeToString(code), "=", n);
  }
  std::cout << "[ summary  ] cap " << kServerCap << " queue " << kServerQueue << ", "
            << kIdleClients << " idle + " << kSilentClients << " stalled + " << kRealClients
            << " real clients: server outcomes" << server_summary << "; client outcomes"
            << client_summary << "; echoes ok " << echoes_ok << ", failed " << echoes_failed
            << "; peak in use " << max_in_use
            << ", peak queued " << max_queued << "; " << pings
            << " pings on the established connection, max round trip "
            << absl::FormatDuration(max_latency) << "; "
            << absl::ToInt64Milliseconds(absl::Now() - test_start) << " ms\n";

  // 5. Teardown: nothing left behind.
  (*listener)->Close();
  dialer->Close();
  DestroyKept();
  group_->Shutdown();
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  listener->reset();
  dialer.reset();
  group_.reset();
  EXPECT_EQ(CountOpenFds(), fds_before_) << "leaked fds";
}

}  // namespace
}  // namespace alts::testing
