// alts-test-labels: threads
// Hostile bytes to a listener from many raw sockets at once: garbage,
// wrong message types, oversized length fields, unparsable bodies,
// truncated handshakes (closed or left silent), a forged ClientFinished and
// a repeated ClientInit. Each offending connection is closed, its reason
// reaches the listener's outcome callback with the code the offence implies,
// and good clients dialing meanwhile are served.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_listener.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/handshaker.h"
#include "tests/handshaker/handshaker_test_util.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kPerOffence: raw sockets per kind of offence, all open at once.
constexpr int kPerOffence = Scaled(24);
// kGoodClients: real clients dialing while the offenders are connected.
constexpr int kGoodClients = Scaled(32);
// kServerDeadline: what a silent, truncated handshake runs into.
constexpr absl::Duration kServerDeadline = absl::Seconds(1);
// kCloseTimeout: how long a raw socket waits for the server to close it.
constexpr absl::Duration kCloseTimeout = absl::Seconds(20);
// kServerCap: high enough that no offender waits in the limiter's queue
// (a queued one could time out instead of showing its own error).
constexpr size_t kServerCap = 1024;
// Handshake message types (docs/handshake.md section 2.1).
constexpr uint8_t kClientInit = 1;
constexpr uint8_t kClientFinished = 4;
constexpr size_t kMacSize = 32;
// kFlightMessages: ServerInit and ServerFinished.
constexpr int kFlightMessages = 2;

enum class Offence {
  kGarbage,             // random bytes, first byte not a message type
  kWrongType,           // a well-framed ServerInit/ServerFinished/... to a server
  kOversized,           // a ClientInit header announcing more than 16 KiB
  kUnparsableBody,      // a ClientInit whose body is not a protobuf
  kTruncatedThenClose,  // part of a real ClientInit, then FIN
  kTruncatedSilent,     // part of a real ClientInit, then nothing
  kForgedFinished,      // a real ClientInit, then a ClientFinished with a wrong MAC
  kRepeatedInit,        // a real ClientInit, then another one
  kOversizedSecond,     // a real ClientInit, then a header announcing 16 MiB
};

constexpr Offence kOffences[] = {
    Offence::kGarbage,         Offence::kWrongType,       Offence::kOversized,
    Offence::kUnparsableBody,  Offence::kTruncatedThenClose, Offence::kTruncatedSilent,
    Offence::kForgedFinished,  Offence::kRepeatedInit,    Offence::kOversizedSecond};

absl::StatusCode ExpectedCode(Offence offence) {
  switch (offence) {
    case Offence::kGarbage:
    case Offence::kWrongType:
    case Offence::kUnparsableBody:
    case Offence::kRepeatedInit:
      return absl::StatusCode::kInvalidArgument;
    case Offence::kOversized:
    case Offence::kOversizedSecond:
      return absl::StatusCode::kResourceExhausted;
    case Offence::kTruncatedThenClose:
      return absl::StatusCode::kUnavailable;
    case Offence::kTruncatedSilent:
      return absl::StatusCode::kDeadlineExceeded;
    case Offence::kForgedFinished:
      return absl::StatusCode::kDataLoss;
  }
  return absl::StatusCode::kUnknown;
}

// SecondMessage: offences that follow a real ClientInit once the server's
// flight is in.
bool HasSecondMessage(Offence offence) {
  return offence == Offence::kForgedFinished || offence == Offence::kRepeatedInit ||
         offence == Offence::kOversizedSecond;
}

std::string Header(uint8_t type, size_t length) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(type);
  h[1] = static_cast<char>(length >> 16);
  h[2] = static_cast<char>(length >> 8);
  h[3] = static_cast<char>(length);
  return h;
}

std::string RandomString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void SendAll(int fd, absl::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // The server may close first (e.g. after an oversized header): fine.
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// ReadUntil reads from `fd` until `enough(bytes)` or the peer closes (EOF
// or reset) or `timeout`. Returns whether the peer closed.
bool ReadUntil(int fd, std::string* bytes, absl::Duration timeout,
               const std::function<bool(const std::string&)>& enough) {
  const absl::Time until = absl::Now() + timeout;
  char buf[4096];
  while (!enough(*bytes)) {
    const int left = static_cast<int>(absl::ToInt64Milliseconds(until - absl::Now()));
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) != 1) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      bytes->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return true;  // EOF or an error (a reset: the server closed with our bytes unread)
  }
  return false;
}

struct Offender {
  Offence offence = Offence::kGarbage;
  int fd = -1;
  std::string second;  // sent once the server's flight is in
};

class ListenerGarbageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(RaiseFdLimit(), static_cast<size_t>(4 * (kPerOffence * 9 + kGoodClients) + 100));
    fds_before_ = CountOpenFds();
    ReactorGroupOptions group_options;
    group_options.threads = 2;
    group_ = std::move(*ReactorGroup::Create(std::move(group_options)));
    pool_ = std::move(*BufferPool::Create({}));
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    server_config_ = MakeConfig(pki_.Leaf("server@garbage"), pki_.Verifier(), nullptr);
    client_config_ = MakeConfig(pki_.Leaf("client@garbage"), pki_.Verifier(), nullptr);
    server_config_->deadline = kServerDeadline;
  }

  void TearDown() override {
    if (group_ == nullptr) return;
    DestroyKept();
    group_->Shutdown();
  }

  void Keep(Reactor& r, std::unique_ptr<SecureConnection> conn,
            std::unique_ptr<ReadyHandler> handler) {
    kept_.Keep(r, std::move(conn), std::move(handler));
  }

  void DestroyKept() { ASSERT_TRUE(kept_.DestroyOn(*group_).ok()); }

  // ClientInit returns the first flight of a real client handshake.
  std::string ClientInit() {
    absl::StatusOr<std::unique_ptr<Handshaker>> client =
        Handshaker::Create(Side::kClient, client_config_, HandshakeParams{});
    EXPECT_TRUE(client.ok()) << client.status();
    std::string out;
    EXPECT_TRUE((*client)->Start(&out).ok());
    return out;
  }

  // Open connects a raw socket to the listener and sends what `offence`
  // sends first.
  Offender Open(Offence offence, const SocketAddress& address, std::mt19937_64& rng) {
    Offender o;
    o.offence = offence;
    o.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(o.fd, 0);
    EXPECT_EQ(connect(o.fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length),
              0)
        << strerror(errno);
    std::string first;
    switch (offence) {
      case Offence::kGarbage:
        first = RandomString(rng, 4 + rng() % 2000);
        first[0] = static_cast<char>(6 + rng() % 250);  // not a message type
        break;
      case Offence::kWrongType: {
        const size_t length = rng() % 200;
        first = Header(static_cast<uint8_t>(2 + rng() % 4), length) + RandomString(rng, length);
        break;
      }
      case Offence::kOversized:
        first = Header(kClientInit, kMaxHandshakeMessageSize + 1 +
                                        rng() % (0xffffff - kMaxHandshakeMessageSize)) +
                RandomString(rng, rng() % 1000);
        break;
      case Offence::kUnparsableBody: {
        const size_t length = 1 + rng() % 2000;
        std::string body = RandomString(rng, length);
        body[0] = 0x0f;  // field 1 with wire type 7, which does not exist
        first = Header(kClientInit, length) + body;
        break;
      }
      case Offence::kTruncatedThenClose:
      case Offence::kTruncatedSilent: {
        const std::string init = ClientInit();
        first = init.substr(0, 1 + rng() % (init.size() - 1));
        break;
      }
      case Offence::kForgedFinished:
        first = ClientInit();
        o.second = Header(kClientFinished, kMacSize) + RandomString(rng, kMacSize);
        break;
      case Offence::kRepeatedInit:
        first = ClientInit();
        o.second = ClientInit();
        break;
      case Offence::kOversizedSecond:
        first = ClientInit();
        o.second = Header(kClientFinished, 0xffffff);
        break;
    }
    SendAll(o.fd, first);
    if (offence == Offence::kTruncatedThenClose) shutdown(o.fd, SHUT_WR);
    return o;
  }

  int fds_before_ = 0;
  TestPki pki_{absl::Now()};
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::shared_ptr<HandshakerConfig> server_config_, client_config_;
  KeptConnections kept_;
};

TEST_F(ListenerGarbageTest, OffendersAreClosedWithTheirReasonAndGoodClientsServed) {
  const absl::Time start = absl::Now();
  HandshakeLimiter server_limiter(kServerCap, 10000);
  HandshakeLimiter client_limiter(64, 10000);
  std::mutex outcomes_mu;
  std::condition_variable outcomes_cv;
  std::map<absl::StatusCode, int> server_codes;
  std::map<absl::StatusCode, std::string> server_examples;  // one message per code
  int empty_reasons = 0;
  int good_ok = 0, good_failed = 0;

  ListenOptions options;
  options.resources = &resources_;
  options.limiter = &server_limiter;
  // Every offender comes from 127.0.0.1, all at once: no per-source cap
  // (tests/conn/secure_listener_test.cc has the cap's own test).
  options.max_handshakes_per_source = 0;
  auto listener = SecureListener::Listen(
      *group_, "127.0.0.1:0", server_config_, options,
      [&](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
        {
          std::lock_guard<std::mutex> lock(outcomes_mu);
          const absl::StatusCode code = outcome.status().code();
          server_codes[code]++;
          if (!outcome.ok()) {
            if (outcome.status().message().empty()) empty_reasons++;
            server_examples.emplace(code, std::string(outcome.status().message()));
          }
          outcomes_cv.notify_all();
        }
        if (!outcome.ok()) return;
        auto echo = std::make_unique<Echo>(outcome->connection.get(), nullptr, nullptr);
        outcome->connection->Start(echo.get());
        Keep(r, std::move(outcome->connection), std::move(echo));
      });
  ASSERT_TRUE(listener.ok()) << listener.status();
  const SocketAddress address = (*listener)->address();
  DialerOptions dopts;
  dopts.resources = &resources_;
  dopts.limiter = &client_limiter;
  auto dialer = std::move(*SecureDialer::Create(*group_, client_config_, dopts));

  // 1. Every offender connects and sends its first bytes.
  std::mt19937_64 rng(20240601);
  std::vector<Offender> offenders;
  std::map<absl::StatusCode, int> expected;
  for (int i = 0; i < kPerOffence; ++i) {
    for (Offence offence : kOffences) {
      offenders.push_back(Open(offence, address, rng));
      expected[ExpectedCode(offence)]++;
    }
  }

  // 2. Good clients dial while the offenders are connected.
  for (int i = 0; i < kGoodClients; ++i) {
    const std::vector<uint8_t> message = RandomBytes(2000 + static_cast<size_t>(i), i);
    dialer->Dial(
        address.ToString(), HandshakeParams{},
        [&, message](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
          if (!outcome.ok()) {
            std::lock_guard<std::mutex> lock(outcomes_mu);
            good_failed++;
            ADD_FAILURE() << "good client: " << outcome.status();
            outcomes_cv.notify_all();
            return;
          }
          SecureConnection* conn = outcome->connection.get();
          auto cell = std::make_shared<Sender*>(nullptr);
          auto sender = std::make_unique<Sender>(conn, message, 0, [&, cell] {
            const Sender* s = *cell;
            std::lock_guard<std::mutex> lock(outcomes_mu);
            const bool ok = s->status().ok() && s->echoed() == s->message().size() &&
                            !s->corrupted();
            (ok ? good_ok : good_failed)++;
            outcomes_cv.notify_all();
          });
          *cell = sender.get();
          Sender* s = sender.get();
          conn->Start(s);
          Keep(r, std::move(outcome->connection), std::move(sender));
          s->Begin();
        },
        static_cast<uint64_t>(i));
  }

  // 3. The offenders that go on once the server has answered.
  for (Offender& o : offenders) {
    if (!HasSecondMessage(o.offence)) continue;
    std::string flight;
    const bool closed = ReadUntil(o.fd, &flight, kCloseTimeout, [](const std::string& b) {
      return HandshakePrefix(b, kFlightMessages) != absl::string_view::npos;
    });
    ASSERT_FALSE(closed) << "the server closed before answering a valid ClientInit";
    SendAll(o.fd, o.second);
  }

  // 4. The server closes every offender.
  std::map<Offence, int> not_closed;
  for (Offender& o : offenders) {
    std::string rest;
    if (!ReadUntil(o.fd, &rest, kCloseTimeout, [](const std::string&) { return false; })) {
      not_closed[o.offence]++;
    }
  }
  for (const auto& [offence, n] : not_closed) {
    ADD_FAILURE() << n << " offenders of kind " << static_cast<int>(offence)
                  << " were not closed";
  }

  // 5. Every offence has its outcome, with the code it implies.
  const int total = static_cast<int>(offenders.size()) + kGoodClients;
  {
    std::unique_lock<std::mutex> lock(outcomes_mu);
    ASSERT_TRUE(outcomes_cv.wait_for(lock, std::chrono::seconds(30), [&] {
      int n = 0;
      for (const auto& [code, count] : server_codes) n += count;
      return n == total && good_ok + good_failed == kGoodClients;
    })) << "outcomes missing";
    expected[absl::StatusCode::kOk] = kGoodClients;
    for (const auto& [code, n] : expected) {
      EXPECT_EQ(server_codes[code], n) << absl::StatusCodeToString(code) << " (e.g. "
                                       << server_examples[code] << ")";
    }
    for (const auto& [code, n] : server_codes) {
      EXPECT_TRUE(expected.count(code)) << "unexpected " << absl::StatusCodeToString(code)
                                        << " x" << n << ": " << server_examples[code];
    }
    EXPECT_EQ(empty_reasons, 0);
    EXPECT_EQ(good_ok, kGoodClients);
  }
  EXPECT_EQ((*listener)->stats().in_progress, 0u);
  EXPECT_EQ((*listener)->stats().started, static_cast<uint64_t>(total));

  std::string summary;
  for (const auto& [code, n] : server_codes) {
    absl::StrAppend(&summary, " ", absl::StatusCodeToString(code), "=", n);
  }
  std::cout << "[ summary  ] " << offenders.size() << " offenders (" << kPerOffence
            << " of each of 9 kinds) and " << kGoodClients
            << " good clients: server outcomes" << summary << "; good clients served "
            << good_ok << "; " << absl::ToInt64Milliseconds(absl::Now() - start) << " ms\n";

  for (Offender& o : offenders) close(o.fd);
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
