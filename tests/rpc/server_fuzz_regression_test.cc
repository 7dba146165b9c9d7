// alts-test-labels: threads
// Regressions found by tests/fuzz/rpc_server_fuzzer: a call that ends while
// its handler's write waits for flow control answers that write with
// OnWriteDone(false) before OnDone, however it ends (deadline, a request
// message the library refuses, a reset after the handler's Finish).

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "http2/frame.h"
#include "rpc/message_reader.h"
#include "rpc/server.h"
#include "tests/http2/h2_test_util.h"
#include "tests/rpc/rpc_test_util.h"

namespace alts::rpc {
namespace {

namespace h2t = http2::testing;
using testing::TestEnv;

// Log is what the handlers saw, in order, shared with the test thread.
struct Log {
  void Add(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
    cv.notify_all();
  }
  bool WaitFor(const std::string& e) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const std::string& x : events) {
        if (x == e) return true;
      }
      return false;
    });
  }
  std::string Joined() {
    std::lock_guard<std::mutex> lock(mu);
    return absl::StrJoin(events, " ");
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
};

// Blocked writes a message larger than the client's window (0) on the
// first request message, then (metadata x-finish) finishes behind it.
class Blocked final : public ServerCallHandler {
 public:
  Blocked(ServerCall* call, Log* log) : call_(call), log_(log) {}
  void OnMessage(absl::Span<const uint8_t>) override {
    if (wrote_) return;
    wrote_ = true;
    absl::Status s = call_->Write(absl::MakeConstSpan(body_));
    log_->Add(s.ok() ? "wrote" : "write failed");
    if (call_->client_metadata().Get("x-finish").has_value()) call_->Finish(absl::OkStatus());
  }
  void OnWriteDone(bool ok) override { log_->Add(absl::StrCat("write_done:", ok)); }
  void OnCancel() override { log_->Add("cancel"); }
  void OnDone() override { log_->Add("done"); }

 private:
  ServerCall* call_;
  Log* log_;
  std::vector<uint8_t> body_ = std::vector<uint8_t>(1000, 'b');
  bool wrote_ = false;
};

class WriteAnsweredTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = std::make_unique<TestEnv>(/*alts=*/false);
    Log* log = &log_;
    env_->StartServer({}, [log](Server& s) {
      ASSERT_TRUE(s.RegisterMethod("/t.Blocked/Call", [log](ServerCall* c) {
                     return std::make_unique<Blocked>(c, log);
                   }).ok());
    });
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    fd_ = fds[0];
    ASSERT_TRUE(env_->server().ServeConnectedSocket(fds[1], "test").ok());
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (env_->server().stats().connections_open != 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(env_->server().stats().connections_open, 0u);
  }

  void Send(const std::string& bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  static std::string Message(const std::string& m) {
    uint8_t p[5];
    WriteMessagePrefix(p, false, static_cast<uint32_t>(m.size()));
    return std::string(reinterpret_cast<char*>(p), 5) + m;
  }
  // Start opens a call whose response cannot flow (the client's windows
  // are 0) and waits until the handler's write is in flight.
  void Start(const h2t::HeaderList& extra) {
    h2t::HeaderList request = {{":method", "POST"},          {":scheme", "http"},
                               {":path", "/t.Blocked/Call"}, {":authority", "test"},
                               {"te", "trailers"},           {"content-type", "application/grpc"}};
    request.insert(request.end(), extra.begin(), extra.end());
    Send(absl::StrCat(
        http2::kConnectionPreface,
        h2t::SettingsFrame({{static_cast<uint16_t>(http2::SettingId::kInitialWindowSize), 0}}),
        h2t::SettingsAck(),
        h2t::HeadersFrame(1, h2t::LiteralBlock(request), http2::kFlagEndHeaders),
        h2t::DataFrame(1, Message("go"))));
    ASSERT_TRUE(log_.WaitFor("wrote")) << log_.Joined();
  }

  std::unique_ptr<TestEnv> env_;
  Log log_;
  int fd_ = -1;
};

TEST_F(WriteAnsweredTest, ByTheDeadline) {
  Start({{"grpc-timeout", "50m"}});
  ASSERT_TRUE(log_.WaitFor("done")) << log_.Joined();
  EXPECT_EQ(log_.Joined(), "wrote write_done:0 cancel done");
}

TEST_F(WriteAnsweredTest, ByARequestMessageOverTheLimit) {
  Start({});
  // A message announcing more than max_receive_message_size: the library
  // fails the call with RESOURCE_EXHAUSTED.
  std::string prefix(5, '\0');
  WriteMessagePrefix(reinterpret_cast<uint8_t*>(prefix.data()), false,
                     static_cast<uint32_t>(kDefaultMaxReceiveMessageSize + 1));
  Send(h2t::DataFrame(1, prefix));
  ASSERT_TRUE(log_.WaitFor("done")) << log_.Joined();
  EXPECT_EQ(log_.Joined(), "wrote write_done:0 done");
}

TEST_F(WriteAnsweredTest, ByAResetAfterFinish) {
  Start({{"x-finish", "1"}});
  Send(h2t::RstStreamFrame(1, http2::ErrorCode::kCancel));
  ASSERT_TRUE(log_.WaitFor("done")) << log_.Joined();
  // Finish was called: no OnCancel, but the write is still answered.
  EXPECT_EQ(log_.Joined(), "wrote write_done:0 done");
}

}  // namespace
}  // namespace alts::rpc
