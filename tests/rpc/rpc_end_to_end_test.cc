// alts-test-labels: threads
// The channel and server end to end over loopback, plaintext and ALTS: the
// four call shapes, statuses and metadata, deadlines, cancellation, limits,
// compression, authorization, shutdown, reconnection and idle memory.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/rpc/rpc_test_util.h"

namespace alts::rpc {
namespace {

using testing::Bytes;
using testing::Pattern;
using testing::TestEnv;

class RpcTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { env_ = std::make_unique<TestEnv>(GetParam()); }
  void TearDown() override {
    channel_.reset();
    env_.reset();
  }
  Channel& Chan() {
    if (channel_ == nullptr) channel_ = env_->NewChannel();
    return *channel_;
  }
  std::unique_ptr<TestEnv> env_;
  std::unique_ptr<Channel> channel_;
};

INSTANTIATE_TEST_SUITE_P(Security, RpcTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Alts" : "Plaintext"; });

TEST_P(RpcTest, UnaryEchoesBytesAndSeesThePeer) {
  env_->StartServer();
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{16 * 1024}, size_t{70000},
                      size_t{1 << 20}}) {
    const std::string req = Pattern(size, static_cast<uint32_t>(size));
    absl::StatusOr<std::string> resp = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes(req));
    ASSERT_TRUE(resp.ok()) << resp.status();
    EXPECT_EQ(*resp, req) << size;
  }
  EXPECT_EQ(env_->last_peer, GetParam() ? "client@test" : "");
}

TEST_P(RpcTest, ServerStreamingDeliversEveryMessageInOrder) {
  env_->StartServer();
  auto call = BlockingCall::Start(Chan(), "/test.Echo/ServerStream");
  const std::string req = "50 30000";
  ASSERT_TRUE(call->Write(Bytes(req)));
  call->WritesDone();
  std::string msg;
  int n = 0;
  while (call->Read(&msg)) {
    EXPECT_EQ(msg, Pattern(30000, static_cast<uint32_t>(50 - n)));
    ++n;
  }
  EXPECT_TRUE(call->Finish().ok());
  EXPECT_EQ(n, 50);
}

TEST_P(RpcTest, ClientStreamingCountsEveryByte) {
  env_->StartServer();
  auto call = BlockingCall::Start(Chan(), "/test.Echo/ClientStream");
  size_t total = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string m = Pattern(static_cast<size_t>(i) * 997, static_cast<uint32_t>(i));
    total += m.size();
    ASSERT_TRUE(call->Write(Bytes(m)));
  }
  call->WritesDone();
  std::string reply;
  ASSERT_TRUE(call->Read(&reply));
  EXPECT_EQ(reply, absl::StrCat(total));
  EXPECT_TRUE(call->Finish().ok());
}

TEST_P(RpcTest, BidiPingPong) {
  env_->StartServer();
  auto call = BlockingCall::Start(Chan(), "/test.Echo/Bidi");
  for (int i = 0; i < 200; ++i) {
    const std::string m = Pattern(static_cast<size_t>(1 + i * 37), static_cast<uint32_t>(i));
    ASSERT_TRUE(call->Write(Bytes(m)));
    std::string back;
    ASSERT_TRUE(call->Read(&back));
    ASSERT_EQ(back, m);
  }
  call->WritesDone();
  std::string extra;
  EXPECT_FALSE(call->Read(&extra));
  EXPECT_TRUE(call->Finish().ok());
}

TEST_P(RpcTest, StatusMessagesAndMetadataRoundTrip) {
  env_->StartServer();
  CallOptions o;
  const std::string message = testing::kSpecialMessage;
  o.metadata.Add("x-status", absl::StrCat(static_cast<int>(absl::StatusCode::kFailedPrecondition),
                                          " special"));
  o.metadata.Add("x-echo", "first");
  o.metadata.Add("x-echo", "second");
  std::string binary("\x00\x01\xff\xfe binary", 11);
  o.metadata.Add("x-bin-bin", binary);
  Metadata initial, trailers;
  absl::StatusOr<std::string> r =
      BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"), std::move(o), &initial, &trailers);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), message);
  // Trailers-Only: the metadata arrives with the status.
  EXPECT_EQ(trailers.GetAll("x-echo-trailer").size(), 2u);
  EXPECT_EQ(trailers.Get("x-bin-bin").value_or(""), binary);

  CallOptions ok;
  ok.metadata.Add("x-echo", "hello");
  r = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("y"), std::move(ok), &initial, &trailers);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(initial.Get("x-echo").value_or(""), "hello");
  EXPECT_EQ(trailers.Get("x-echo-trailer").value_or(""), "hello");
}

TEST_P(RpcTest, UnknownMethodIsUnimplemented) {
  env_->StartServer();
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Nope/Missing", Bytes("x"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  // The connection is untouched.
  EXPECT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x")).ok());
}

TEST_P(RpcTest, DeadlineExceededOnBothSides) {
  env_->StartServer();
  CallOptions o;
  o.deadline = absl::Now() + absl::Milliseconds(100);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Echo/Sleep", Bytes("x"), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The server's handler is cancelled too.
  for (int i = 0; i < 500 && env_->sleeping.load() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(env_->sleeping.load(), 0);
  EXPECT_GE(env_->cancels.load(), 1);
}

TEST_P(RpcTest, ExpiredDeadlineFailsAtOnce) {
  env_->StartServer();
  CallOptions o;
  o.deadline = absl::Now() - absl::Seconds(1);
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_P(RpcTest, ClientCancelReachesTheServer) {
  env_->StartServer();
  auto call = BlockingCall::Start(Chan(), "/test.Echo/Sleep");
  ASSERT_TRUE(call->Write(Bytes("x")));
  for (int i = 0; i < 500 && env_->sleeping.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  call->Cancel();
  EXPECT_EQ(call->Finish().code(), absl::StatusCode::kCancelled);
  for (int i = 0; i < 500 && env_->sleeping.load() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(env_->sleeping.load(), 0);
}

TEST_P(RpcTest, OversizedMessagesAreResourceExhaustedAndOthersGoOn) {
  env_->StartServer([](ServerOptions& o) { o.max_receive_message_size = 64 * 1024; });
  const std::string big = Pattern(100 * 1024, 7);
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes(big));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("small")).ok());
  // And the client's own limit on responses.
  auto small_client = env_->NewChannel([](ChannelOptions& o) { o.max_receive_message_size = 1000; });
  r = BlockingUnaryCall(*small_client, "/test.Echo/Unary", Bytes(Pattern(5000, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
}

TEST_P(RpcTest, GzipBothWays) {
  env_->StartServer();
  auto ch = env_->NewChannel();
  CallOptions o;
  o.compression = "gzip";
  o.metadata.Add("x-compress", "1");
  auto call = BlockingCall::Start(*ch, "/test.Echo/Unary", o);
  const std::string text(100000, 'a');
  ASSERT_TRUE(call->Write(Bytes(text), /*compress=*/true));
  call->WritesDone();
  std::string back;
  ASSERT_TRUE(call->Read(&back));
  EXPECT_EQ(back, text);
  EXPECT_TRUE(call->Finish().ok());
}

TEST_P(RpcTest, AuthorizationHookRefusesWithPermissionDenied) {
  env_->StartServer([](ServerOptions& o) {
    o.authorize = [](const CallInfo& info) {
      if (info.metadata->Get("x-allow").has_value()) return absl::OkStatus();
      return absl::PermissionDeniedError("not allowed");
    };
  });
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  CallOptions o;
  o.metadata.Add("x-allow", "1");
  EXPECT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"), o).ok());
}

TEST_P(RpcTest, ReservedOrInvalidMetadataFailsTheCallOnly) {
  env_->StartServer();
  CallOptions o;
  o.metadata.Add("grpc-status", "0");
  EXPECT_EQ(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"), o).status().code(),
            absl::StatusCode::kInternal);
  CallOptions upper;
  upper.metadata.Add("X-Upper", "v");
  EXPECT_EQ(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x"), upper).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("x")).ok());
}

TEST_P(RpcTest, ManyConcurrentCallsBeyondMaxConcurrentStreams) {
  env_->StartServer([](ServerOptions& o) { o.http2.max_concurrent_streams = 4; });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  Channel& ch = Chan();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string m = Pattern(static_cast<size_t>(100 + i), static_cast<uint32_t>(t * 100 + i));
        absl::StatusOr<std::string> r = BlockingUnaryCall(ch, "/test.Echo/Unary", Bytes(m));
        if (r.ok() && *r == m) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(ch.stats().connects_succeeded, 1u);
}

TEST_P(RpcTest, IdleConnectionHoldsNoBufferAndLittleHeap) {
  env_->StartServer();
  CallOptions o;
  o.metadata.Add("x-echo", "v");
  ASSERT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("hello"), o).ok());
  ASSERT_TRUE(BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("hello"), o).ok());
  // The client's idle bytes: the channel's connection.
  const size_t client = Chan().ConnectionHeapBytes();
  EXPECT_EQ(Chan().ConnectionLeasedBuffers(), 0u);
  std::vector<size_t> server = env_->server().ConnectionHeapBytes();
  ASSERT_EQ(server.size(), 1u);
  EXPECT_GT(client, 0u);
  EXPECT_LE(client, 2048u);
  EXPECT_LE(server[0], 2048u);
  EXPECT_EQ(env_->read_pool().stats().outstanding, 0u);
  std::printf("idle heap per endpoint: client %zu B, server %zu B\n", client, server[0]);
}

TEST_P(RpcTest, GracefulShutdownFinishesCallsInFlightAndRefusesNewOnes) {
  env_->StartServer();
  auto call = BlockingCall::Start(Chan(), "/test.Echo/Bidi");
  ASSERT_TRUE(call->Write(Bytes("before")));
  std::string back;
  ASSERT_TRUE(call->Read(&back));
  std::thread stopper([&] { env_->StopServer(absl::Seconds(10)); });
  // The call in flight still works during the grace period.
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(call->Write(Bytes("during")));
  ASSERT_TRUE(call->Read(&back));
  EXPECT_EQ(back, "during");
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
  stopper.join();
  absl::StatusOr<std::string> r = BlockingUnaryCall(Chan(), "/test.Echo/Unary", Bytes("after"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST_P(RpcTest, ReconnectsAfterTheServerComesBack) {
  const std::string address = env_->StartServer();
  auto ch = env_->NewChannel([](ChannelOptions& o) {
    o.backoff.initial = absl::Milliseconds(20);
    o.backoff.max = absl::Milliseconds(100);
  });
  ASSERT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("one")).ok());
  env_->StopServer();
  absl::StatusOr<std::string> r = BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("two"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  env_->StartServer();  // same address
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    back = BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("three")).ok();
    if (!back) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(back);
  EXPECT_GE(ch->stats().connects_succeeded, 2u);
}

TEST_P(RpcTest, WaitForReadyWaitsForTheServer) {
  // A port with no server yet: reserve one, then start the server later.
  env_->StartServer();
  const std::string address = env_->address();
  env_->StopServer();
  auto ch = env_->NewChannel([](ChannelOptions& o) {
    o.backoff.initial = absl::Milliseconds(20);
    o.backoff.max = absl::Milliseconds(50);
  });
  std::atomic<bool> done{false};
  absl::Status status;
  std::thread caller([&] {
    CallOptions o;
    o.wait_for_ready = true;
    o.deadline = absl::Now() + absl::Seconds(20);
    status = BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("patient"), o).status();
    done = true;
  });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(done.load());
  env_->StartServer();
  caller.join();
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(RpcTest, ChannelShutdownFailsCallsInFlight) {
  env_->StartServer();
  auto ch = env_->NewChannel();
  auto call = BlockingCall::Start(*ch, "/test.Echo/Sleep");
  ASSERT_TRUE(call->Write(Bytes("x")));
  ch->Shutdown();
  EXPECT_EQ(call->Finish().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("x")).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_P(RpcTest, ManyChannelsShareOneGroup) {
  env_->StartServer();
  std::vector<std::unique_ptr<Channel>> channels;
  for (int i = 0; i < 50; ++i) channels.push_back(env_->NewChannel());
  for (auto& c : channels) {
    absl::StatusOr<std::string> r = BlockingUnaryCall(*c, "/test.Echo/Unary", Bytes("hi"));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(env_->server().stats().connections_open, 50u);
  channels.clear();
  for (int i = 0; i < 500 && env_->server().stats().connections_open != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(env_->server().stats().connections_open, 0u);
}

}  // namespace
}  // namespace alts::rpc
