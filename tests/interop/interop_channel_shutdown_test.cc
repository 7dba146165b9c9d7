// alts-test-labels: threads
// A channel destroyed right before its reactor group must leave nothing
// behind: the interop client does exactly this at exit (channel, then the
// reactors). Channel::Shutdown used to return before the aborted
// connection had ended; when the group stopped first, the end was never
// delivered, and the connection and the channel state it holds (each
// owning the other) leaked. LeakSanitizer sees that in the sanitizer
// build: each round checks for leaks on its own.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/proto.h"
#include "rpc/server.h"
#include "tests/interop/proto/test.pb.h"
#include "tools/interop_server/interop_common.h"
#include "tools/interop_server/test_service.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define INTEROP_HAVE_LSAN 1
#endif
#endif
#if !defined(INTEROP_HAVE_LSAN) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define INTEROP_HAVE_LSAN 1
#endif

namespace alts::interop {
namespace {

// kRounds: the leak needed the group to stop before the reactor's next
// turn, about every other round on a loaded machine.
constexpr int kRounds = 40;

TEST(ChannelShutdownTest, AChannelDestroyedJustBeforeItsReactorsLeavesNothing) {
  absl::StatusOr<std::unique_ptr<Runtime>> server_rt = Runtime::Create(1);
  ASSERT_TRUE(server_rt.ok()) << server_rt.status();
  rpc::ServerOptions so;
  so.group = &(*server_rt)->group();
  so.resources = (*server_rt)->resources();
  absl::StatusOr<std::unique_ptr<rpc::Server>> server = rpc::Server::Create(std::move(so));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(RegisterTestService(**server).ok());
  absl::StatusOr<std::string> address = (*server)->AddListener("127.0.0.1:0");
  ASSERT_TRUE(address.ok()) << address.status();

  for (int round = 0; round < kRounds; ++round) {
    {
      absl::StatusOr<std::unique_ptr<Runtime>> rt = Runtime::Create(1);
      ASSERT_TRUE(rt.ok()) << rt.status();
      rpc::ChannelOptions co;
      co.group = &(*rt)->group();
      co.resources = (*rt)->resources();
      absl::StatusOr<std::unique_ptr<rpc::Channel>> channel =
          rpc::Channel::Create(*address, std::move(co));
      ASSERT_TRUE(channel.ok()) << channel.status();
      absl::StatusOr<::grpc::testing::Empty> r = rpc::UnaryCall<::grpc::testing::Empty>(
          **channel, "/grpc.testing.TestService/EmptyCall", ::grpc::testing::Empty());
      ASSERT_TRUE(r.ok()) << r.status();
      channel->reset();
    }  // the reactors stop here, right after the channel
#ifdef INTEROP_HAVE_LSAN
    ASSERT_EQ(__lsan_do_recoverable_leak_check(), 0) << "leak after round " << round;
#endif
  }
  (*server)->Shutdown();
}

}  // namespace
}  // namespace alts::interop
