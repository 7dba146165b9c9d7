// A pool budget must bound memory without stopping traffic: two connections
// that share a budgeted pool (both ends in one process, as in a proxy or a
// loopback test) echo a message larger than the socket buffers.
//
// Both tests are DISABLED_: they hang today (see each comment). Run them
// with --gtest_also_run_disabled_tests; they fail after kEchoTimeout.
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
  auto storage = StoragePool::Create();
  ASSERT_TRUE(storage.ok());
  ConnectionResources resources;
  resources.read_pool = pool->get();
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
}

// Bug: in the pinned policy a connection that waits for a write buffer
// stops reading, although its reads use its pinned buffer and need nothing
// from the pool. SecureConnection::NewChunk sets waiting_for_buffer_ when
// the pool is dry, and WantRead() requires !waiting_for_buffer_. Here the
// server's echo waits for the one buffer the budget has left, which holds
// the client's pending ciphertext; that can only drain when the server
// reads, and the server has stopped reading: a deadlock (server received
// 28521 of 1 MiB, client holds 32704 bytes pending, 2 waiters).
// Fix: track the two waits apart (waiting for a read buffer, waiting for a
// write buffer); only the first may gate WantRead(), and a pinned
// connection never waits for a read buffer.
TEST(PoolBudgetTest, DISABLED_PinnedConnectionWaitingForAWriteBufferKeepsReading) {
  EchoOverBudgetedPool(ReadBufferPolicy::kPinned, 3);
}

// Bug: write buffers come out of the same budget as read buffers with
// nothing kept for reading. Write accepts plaintext until pending output
// reaches write_high_water (256 KiB = 8 buffers of 32 KiB), so connections
// whose peers read slowly can hold the whole budget in pending ciphertext
// (one connection suffices for a budget of 8 buffers, budget / 8 of them
// for any budget). Then no connection of the process can lease a read
// buffer: here the client holds all 8 buffers (261632 bytes pending) and
// the server, which must read to let those drain, waits forever (received
// 0). Across processes the same state stops every reader of a server for
// as long as those peers do not read. Fix: keep part of the budget for reading, e.g.
// NewChunk takes a buffer only while at least one buffer per reactor (or a
// configured reserve) would stay available to readers, else Write accepts
// less and OnWritable follows when buffers return; or lease write buffers
// from a separate pool with its own budget.
TEST(PoolBudgetTest, DISABLED_PendingWritesCannotTakeTheLastBuffersFromReaders) {
  EchoOverBudgetedPool(ReadBufferPolicy::kOnDemand, 8);
}

}  // namespace
}  // namespace alts::testing
