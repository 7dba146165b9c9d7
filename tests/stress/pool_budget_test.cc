// A pool budget must bound memory without stopping traffic: two connections
// that share a budgeted pool (both ends in one process, as in a proxy or a
// loopback test) echo a message larger than the socket buffers.
//
// Reads and writes lease from separate budgeted pools (SecureConnection
// refuses a budgeted read pool shared with writes, the configuration that
// deadlocked: pending output held the buffers readers needed to drain it).
// Each test guards one fixed deadlock.

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kMessageSize: several times what a socketpair buffers, so the writer
// must wait for the reader.
constexpr size_t kMessageSize = 1024 * 1024;
// kEchoTimeout: the echo takes milliseconds when it works.
constexpr absl::Duration kEchoTimeout = absl::Seconds(10);

// EchoOverBudgetedPool echoes kMessageSize bytes between two connections on
// one unthreaded reactor whose pool holds `budget_buffers` buffers, and
// checks that it completes intact.
void EchoOverBudgetedPool(ReadBufferPolicy policy, size_t budget_buffers) {
  auto reactor = Reactor::CreateUnthreaded();
  ASSERT_TRUE(reactor.ok());
  BufferPoolOptions options;
  options.max_bytes_outstanding = budget_buffers * options.buffer_size;
  auto pool = BufferPool::Create(options);
  ASSERT_TRUE(pool.ok());
  auto write_pool = BufferPool::Create(options);  // same budget, its own
  ASSERT_TRUE(write_pool.ok());
  auto storage = StoragePool::Create();
  ASSERT_TRUE(storage.ok());
  ConnectionResources resources;
  resources.read_pool = pool->get();
  resources.write_pool = write_pool->get();
  resources.storage = storage->get();
  resources.options.read_policy = policy;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const std::vector<uint8_t> key(44, 0x42);
  auto client = SecureConnection::Create(
      **reactor, fds[0], *RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kClient, key),
      &resources);
  auto server = SecureConnection::Create(
      **reactor, fds[1], *RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kServer, key),
      &resources);
  ASSERT_TRUE(client.ok() && server.ok());
  const std::vector<uint8_t> message = RandomBytes(kMessageSize, 1);
  Sender sender(client->get(), message, 1, nullptr);
  Echo echo(server->get(), &message, nullptr);
  (*server)->Start(&echo);
  (*client)->Start(&sender);
  sender.Begin();
  const absl::Status ran =
      (*reactor)->RunUntil([&] { return sender.ended() && echo.ended(); }, kEchoTimeout);
  EXPECT_TRUE(ran.ok()) << "stuck: echoed " << sender.echoed() << " of " << kMessageSize
                        << ", server received " << echo.received() << ", client holds "
                        << (*client)->pending_write_bytes() << " bytes of pending writes, "
                        << (*pool)->stats().outstanding << " of " << budget_buffers
                        << " buffers leased, " << (*pool)->stats().waiters << " waiters";
  EXPECT_TRUE(sender.status().ok()) << sender.status();
  EXPECT_EQ(sender.echoed(), kMessageSize);
  EXPECT_FALSE(sender.corrupted());
  client->reset();
  server->reset();
  EXPECT_EQ((*pool)->stats().outstanding, 0u);
  EXPECT_EQ((*write_pool)->stats().outstanding, 0u);
}

// A pinned connection waiting for a write buffer keeps reading: its reads
// use its pinned buffer, and the peer's pending output can only drain if it
// reads. (It used to stop reading: server received 28521 of 1 MiB, stuck.)
TEST(PoolBudgetTest, PinnedConnectionWaitingForAWriteBufferKeepsReading) {
  EchoOverBudgetedPool(ReadBufferPolicy::kPinned, 3);
}

// Pending output cannot take the buffers readers need: writes lease from
// their own pool, so a peer's pending ciphertext (up to write_high_water,
// 8 buffers here) never leaves the reader without a buffer. (With one
// shared budget of 8 the client held all 8 and the server received 0.)
TEST(PoolBudgetTest, PendingWritesCannotTakeTheLastBuffersFromReaders) {
  EchoOverBudgetedPool(ReadBufferPolicy::kOnDemand, 8);
}

}  // namespace
}  // namespace alts::testing
