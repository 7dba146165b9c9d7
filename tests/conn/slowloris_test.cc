// Thousands of peers each announce a 1 MiB frame and trickle it a byte at a
// time. Memory stays bounded by what actually arrived, the partial-frame
// deadline closes every offender with a reason, and an honest connection on
// the same reactor keeps being served throughout.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/storage_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"

namespace alts {
namespace {

using ::alts::testing::RaiseFdLimit;
using ::alts::testing::TestProtector;

#ifdef ALTS_SANITIZER_BUILD
constexpr int kOffenders = 500;
#else
constexpr int kOffenders = 3000;
#endif

class Recorder : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease&) override { received += data.size(); }
  void OnEnd(const absl::Status& s) override {
    ended = true;
    status = s;
  }
  size_t received = 0;
  bool ended = false;
  absl::Status status;
};

TEST(SlowlorisTest, TricklersAreBoundedAndClosedWhileOthersAreServed) {
  ASSERT_GE(RaiseFdLimit(2 * kOffenders + 100), static_cast<rlim_t>(2 * kOffenders + 100));

  auto reactor = std::move(*Reactor::CreateUnthreaded());
  auto pool = std::move(*BufferPool::Create({}));
  auto storage = std::move(*StoragePool::Create());
  ConnectionResources resources{pool.get(), storage.get(), {}};
  resources.options.partial_frame_timeout = absl::Milliseconds(1500);

  std::vector<int> attackers;
  std::vector<std::unique_ptr<Recorder>> handlers;
  std::vector<std::unique_ptr<SecureConnection>> conns;
  for (int i = 0; i < kOffenders; ++i) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    attackers.push_back(fds[0]);
    handlers.push_back(std::make_unique<Recorder>());
    conns.push_back(std::move(
        *SecureConnection::Create(*reactor, fds[1], TestProtector(Side::kServer), &resources)));
    conns.back()->Start(handlers.back().get());
    // Length field announcing the largest frame (1 MiB) and the type.
    const uint8_t header[] = {0x00, 0x00, 0x10, 0x00, 0x06, 0x00, 0x00, 0x00};
    ASSERT_EQ(write(fds[0], header, sizeof(header)), 8);
  }
  // An honest pair on the same reactor.
  int honest[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, honest), 0);
  Recorder client_h, server_h;
  auto client = std::move(
      *SecureConnection::Create(*reactor, honest[0], TestProtector(Side::kClient), &resources));
  auto server = std::move(
      *SecureConnection::Create(*reactor, honest[1], TestProtector(Side::kServer), &resources));
  client->Start(&client_h);
  server->Start(&server_h);

  size_t peak_storage = 0;
  size_t sent = 0;
  const absl::Time start = absl::Now();
  int rounds = 0;
  while (absl::Now() - start < absl::Seconds(20)) {
    bool all_ended = true;
    for (size_t i = 0; i < attackers.size(); ++i) {
      if (handlers[i]->ended) continue;
      all_ended = false;
      const uint8_t byte = 0x5a;
      (void)!write(attackers[i], &byte, 1);
    }
    // The honest connection keeps round-tripping.
    const uint8_t msg[100] = {};
    ASSERT_TRUE(client->Write(msg).ok());
    sent += sizeof(msg);
    (void)reactor->RunUntil([&] { return server_h.received == sent; }, absl::Seconds(5));
    ASSERT_EQ(server_h.received, sent) << "honest traffic stalled in round " << rounds;
    peak_storage = std::max(peak_storage, storage->OutstandingBytes());
    EXPECT_EQ(pool->stats().outstanding, 0u);
    ++rounds;
    if (all_ended) break;
    (void)reactor->RunUntil([] { return false; }, absl::Milliseconds(100));
  }
  int deadline_closed = 0;
  for (auto& h : handlers) {
    ASSERT_TRUE(h->ended);
    if (h->status.code() == absl::StatusCode::kDeadlineExceeded) ++deadline_closed;
    EXPECT_THAT(h->status.message(), ::testing::HasSubstr("frame not completed"));
  }
  EXPECT_EQ(deadline_closed, kOffenders);
  EXPECT_FALSE(server_h.ended);
  // Each trickler held storage sized to the few bytes it sent (a 256-byte
  // class), never the megabyte it announced.
  EXPECT_LE(peak_storage, static_cast<size_t>(kOffenders) * 256);
  EXPECT_EQ(storage->OutstandingBytes(), 0u);
  printf("slowloris: %d offenders closed by the deadline after %d rounds; peak storage %zu bytes "
         "(%.0f per offender); honest bytes delivered %zu\n",
         deadline_closed, rounds, peak_storage, static_cast<double>(peak_storage) / kOffenders,
         sent);
  for (int fd : attackers) close(fd);
  conns.clear();
  client.reset();
  server.reset();
}

}  // namespace
}  // namespace alts
