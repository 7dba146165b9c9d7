// alts-test-labels: threads
// Keepalive PINGs and their enforcement, and idle connections closed by
// either side.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/rpc/rpc_test_util.h"

namespace alts::rpc {
namespace {

using testing::Bytes;
using testing::TestEnv;

// WaitFor polls `done` (an observable state of the system under test) for up
// to `limit`.
template <typename F>
bool WaitFor(F done, absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

TEST(RpcKeepaliveTest, PingsWithinTheServersMinimumAreAllowed) {
  TestEnv env(false);
  env.StartServer([](ServerOptions& o) { o.keepalive_min_time = absl::Milliseconds(10); });
  auto ch = env.NewChannel([](ChannelOptions& o) { o.keepalive_time = absl::Milliseconds(50); });
  auto call = BlockingCall::Start(*ch, "/test.Echo/Sleep");
  ASSERT_TRUE(call->Write(Bytes("x")));
  // The call stays silent: pings go out and are answered, and the
  // connection stays.
  EXPECT_TRUE(WaitFor([&] { return ch->stats().keepalive_pings >= 5; }));
  call->Cancel();
  EXPECT_EQ(call->Finish().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("still here")).ok());
  EXPECT_EQ(ch->stats().connects_succeeded, 1u);
}

TEST(RpcKeepaliveTest, TooManyPingsGetGoawayAndTheClientBacksOff) {
  TestEnv env(false);
  env.StartServer([](ServerOptions& o) { o.keepalive_min_time = absl::Seconds(10); });
  auto ch = env.NewChannel([](ChannelOptions& o) { o.keepalive_time = absl::Milliseconds(20); });
  auto call = BlockingCall::Start(*ch, "/test.Echo/Sleep");
  ASSERT_TRUE(call->Write(Bytes("x")));
  // The third early ping is the server's limit: GOAWAY ENHANCE_YOUR_CALM
  // "too_many_pings", and the connection goes.
  absl::Status s = call->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_GE(ch->stats().keepalive_pings, 3u);
  EXPECT_TRUE(WaitFor([&] { return env.server().stats().connections_open == 0; }));
  // A new connection serves new calls.
  EXPECT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("again")).ok());
  EXPECT_EQ(ch->stats().connects_succeeded, 2u);
}

TEST(RpcKeepaliveTest, ServerClosesIdleConnectionsAndClientsRedial) {
  TestEnv env(false);
  env.StartServer([](ServerOptions& o) { o.max_connection_idle = absl::Milliseconds(100); });
  auto ch = env.NewChannel();
  ASSERT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("one")).ok());
  EXPECT_TRUE(WaitFor([&] { return env.server().stats().connections_open == 0; }));
  EXPECT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("two")).ok());
  EXPECT_EQ(ch->stats().connects_succeeded, 2u);
}

TEST(RpcKeepaliveTest, ClientIdleTimeoutClosesItsConnection) {
  TestEnv env(false);
  env.StartServer();
  auto ch = env.NewChannel([](ChannelOptions& o) { o.idle_timeout = absl::Milliseconds(100); });
  ASSERT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("one")).ok());
  EXPECT_TRUE(WaitFor([&] { return env.server().stats().connections_open == 0; }));
  EXPECT_EQ(ch->ConnectionHeapBytes(), 0u);
  EXPECT_TRUE(BlockingUnaryCall(*ch, "/test.Echo/Unary", Bytes("two")).ok());
}

}  // namespace
}  // namespace alts::rpc
