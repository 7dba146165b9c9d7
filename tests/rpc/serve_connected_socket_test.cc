// alts-test-labels: threads
// Server::ServeConnectedSocket: a server serving a socket it did not
// accept (one end of a socketpair), from outside and from inside its
// reactors; refused on an ALTS server, after shutdown and for no socket.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

// Pair is a connected socketpair: `ours` is the test's end, `theirs` goes
// to the server.
struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ours = fds[0];
    theirs = fds[1];
  }
  ~Pair() {
    if (ours >= 0) close(ours);
  }
  int ours = -1;
  int theirs = -1;
};

// ReadUntilClosed reads from `fd` until the peer closes it (or 10 s pass).
std::string ReadUntilClosed(int fd) {
  std::string in;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return in;
    in.append(buf, static_cast<size_t>(n));
  }
  ADD_FAILURE() << "the server did not close the socket";
  return in;
}

// Call sends a whole unary call to /test.Echo/Unary on stream 1 with
// `message`, closes the sending side and returns what the server answered:
// the response headers and trailers (one line per block) and the DATA.
struct Answer {
  std::vector<h2t::HeaderList> blocks;
  std::string data;
};
Answer Call(int fd, const std::string& path, const std::string& message) {
  uint8_t prefix[5];
  WriteMessagePrefix(prefix, false, static_cast<uint32_t>(message.size()));
  const h2t::HeaderList request = {{":method", "POST"}, {":scheme", "http"},
                                   {":path", path},     {":authority", "pair.test"},
                                   {"te", "trailers"},  {"content-type", "application/grpc"}};
  const std::string out =
      absl::StrCat(http2::kConnectionPreface, h2t::SettingsFrame(), h2t::SettingsAck(),
                   h2t::HeadersFrame(1, h2t::LiteralBlock(request), http2::kFlagEndHeaders),
                   h2t::DataFrame(1, std::string(reinterpret_cast<char*>(prefix), 5) + message,
                                  http2::kFlagEndStream),
                   h2t::PingFrame(7));
  EXPECT_EQ(send(fd, out.data(), out.size(), MSG_NOSIGNAL), static_cast<ssize_t>(out.size()));
  // The PING's ACK comes after the response: then close our side.
  std::string in;
  Answer a;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool acked = false;
  while (!acked && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    size_t whole = 0;
    while (in.size() - whole >= http2::kFrameHeaderSize) {
      const http2::FrameHeader h =
          http2::ParseFrameHeader(reinterpret_cast<const uint8_t*>(in.data()) + whole);
      if (in.size() - whole - http2::kFrameHeaderSize < h.length) break;
      if (h.type == static_cast<uint8_t>(http2::FrameType::kPing) && h.has(http2::kFlagAck)) {
        acked = true;
      }
      whole += http2::kFrameHeaderSize + h.length;
    }
  }
  EXPECT_TRUE(acked) << "no PING ACK";
  shutdown(fd, SHUT_WR);
  in += ReadUntilClosed(fd);
  std::vector<h2t::ParsedFrame> frames = h2t::ParseFrames(in);
  h2t::PeerDecoder decoder;
  for (auto& [id, block] : decoder.DecodeAll(frames)) {
    if (id == 1) a.blocks.push_back(block);
  }
  for (const h2t::ParsedFrame& f : frames) {
    if (f.type() == http2::FrameType::kData && f.stream_id() == 1) a.data += f.payload;
  }
  return a;
}

std::string Value(const h2t::HeaderList& block, const std::string& name) {
  for (const auto& [n, v] : block) {
    if (n == name) return v;
  }
  return "<none>";
}

// WaitForNoConnections waits until the server holds no connection.
bool WaitForNoConnections(Server& server) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server.stats().connections_open != 0) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// PeerEcho finishes every call with its peer address as the status message.
class PeerEcho final : public ServerCallHandler {
 public:
  explicit PeerEcho(ServerCall* call) : call_(call) {}
  void OnHalfClose() override {
    call_->Finish(absl::InvalidArgumentError(std::string(call_->peer_address())));
  }

 private:
  ServerCall* call_;
};

void AddPeerEcho(Server& s) {
  ASSERT_TRUE(s.RegisterMethod("/t.Peer/Echo", [](ServerCall* c) {
                 return std::make_unique<PeerEcho>(c);
               }).ok());
}

TEST(ServeConnectedSocketTest, ServesAUnaryCallAndCountsTheConnection) {
  TestEnv env(/*alts=*/false);
  env.StartServer();
  Pair pair;
  ASSERT_TRUE(env.server().ServeConnectedSocket(pair.theirs, "pair-peer").ok());
  EXPECT_EQ(env.server().stats().connections_open, 1u);
  EXPECT_EQ(env.server().stats().connections_accepted, 1u);
  Answer a = Call(pair.ours, "/test.Echo/Unary", "hello");
  ASSERT_EQ(a.blocks.size(), 2u);
  EXPECT_EQ(Value(a.blocks[0], ":status"), "200");
  EXPECT_EQ(Value(a.blocks[1], "grpc-status"), "0");
  EXPECT_EQ(a.data, std::string("\0\0\0\0\5hello", 10));
  EXPECT_TRUE(WaitForNoConnections(env.server()));
  const ServerStats st = env.server().stats();
  EXPECT_EQ(st.calls_started, 1u);
  EXPECT_EQ(st.calls_finished, 1u);
  EXPECT_EQ(env.read_pool().stats().outstanding, 0u);
}

TEST(ServeConnectedSocketTest, CallsReportThePeerAddressGiven) {
  TestEnv env(/*alts=*/false);
  env.StartServer({}, AddPeerEcho);
  Pair pair;
  ASSERT_TRUE(env.server().ServeConnectedSocket(pair.theirs, "supervisor:42").ok());
  Answer a = Call(pair.ours, "/t.Peer/Echo", "");
  ASSERT_EQ(a.blocks.size(), 1u);  // Trailers-Only
  EXPECT_EQ(Value(a.blocks[0], "grpc-status"), "3");
  EXPECT_EQ(Value(a.blocks[0], "grpc-message"), "supervisor:42");
}

TEST(ServeConnectedSocketTest, ServesFromInsideAReactorThread) {
  TestEnv env(/*alts=*/false);
  env.StartServer();
  Pair pair;
  absl::Status served = absl::UnknownError("not run");
  // Only reactor 0 serves it (fn runs on every reactor at once).
  ASSERT_TRUE(env.group()
                  .RunOnAllAndWait([&](Reactor& r) {
                    if (r.index() == 0) served = env.server().ServeConnectedSocket(pair.theirs);
                  })
                  .ok());
  ASSERT_TRUE(served.ok()) << served;
  Answer a = Call(pair.ours, "/test.Echo/Unary", "x");
  ASSERT_EQ(a.blocks.size(), 2u);
  EXPECT_EQ(Value(a.blocks[1], "grpc-status"), "0");
  EXPECT_TRUE(WaitForNoConnections(env.server()));
}

TEST(ServeConnectedSocketTest, AnAltsServerRefusesAndClosesTheSocket) {
  TestEnv env(/*alts=*/true);
  env.StartServer();
  Pair pair;
  absl::Status s = env.server().ServeConnectedSocket(pair.theirs);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(ReadUntilClosed(pair.ours), "");
  EXPECT_EQ(env.server().stats().connections_accepted, 0u);
}

TEST(ServeConnectedSocketTest, RefusedAfterShutdown) {
  TestEnv env(/*alts=*/false);
  env.StartServer();
  env.StopServer();
  Pair pair;
  absl::Status s = env.server().ServeConnectedSocket(pair.theirs);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(ReadUntilClosed(pair.ours), "");
}

TEST(ServeConnectedSocketTest, NoSocketIsInvalid) {
  TestEnv env(/*alts=*/false);
  env.StartServer();
  EXPECT_EQ(env.server().ServeConnectedSocket(-1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ServeConnectedSocketTest, ShutdownClosesAServedSocket) {
  TestEnv env(/*alts=*/false);
  env.StartServer();
  Pair pair;
  ASSERT_TRUE(env.server().ServeConnectedSocket(pair.theirs).ok());
  const std::string preface = absl::StrCat(http2::kConnectionPreface, h2t::SettingsFrame());
  ASSERT_EQ(send(pair.ours, preface.data(), preface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(preface.size()));
  env.StopServer();
  std::vector<h2t::ParsedFrame> frames = h2t::ParseFrames(ReadUntilClosed(pair.ours));
  ASSERT_NE(h2t::FindFrame(frames, http2::FrameType::kGoaway), nullptr);
  EXPECT_EQ(env.server().stats().connections_open, 0u);
}

}  // namespace
}  // namespace alts::rpc
