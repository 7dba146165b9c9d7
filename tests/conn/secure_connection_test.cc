#include "conn/secure_connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "conn/wake_queue.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"

namespace alts {
namespace {

using ::testing::HasSubstr;
using ::alts::testing::RandomBytes;
using ::alts::testing::TestProtector;

// Collector records what a connection delivers.
class Collector : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    received.insert(received.end(), data.begin(), data.end());
    ++data_calls;
    if (on_data) on_data(data);
  }
  void OnEnd(const absl::Status& status) override {
    ++end_calls;
    end_status = status;
    if (on_end) on_end(status);
  }
  void OnWritable() override {
    ++writable_calls;
    if (on_writable) on_writable();
  }
  void OnDrained() override { ++drained_calls; }

  std::vector<uint8_t> received;
  int data_calls = 0;
  int end_calls = 0;
  int writable_calls = 0;
  int drained_calls = 0;
  absl::Status end_status;
  std::function<void(absl::Span<uint8_t>)> on_data;
  std::function<void(const absl::Status&)> on_end;
  std::function<void()> on_writable;
};

class SecureConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reactor = Reactor::CreateUnthreaded();
    ASSERT_TRUE(reactor.ok()) << reactor.status();
    reactor_ = std::move(*reactor);
    auto wake = WakeQueue::Create(reactor_->base());
    ASSERT_TRUE(wake.ok());
    wake_ = std::move(*wake);
    MakePools(BufferPoolOptions());
  }

  void TearDown() override {
    conns_.clear();
    // Every buffer must be back once connections are gone.
    EXPECT_EQ(pool_->stats().outstanding, 0u);
    EXPECT_EQ(storage_->OutstandingBytes(), 0u);
    wake_.reset();
    reactor_.reset();
  }

  void MakePools(BufferPoolOptions options, ConnectionOptions conn_options = {}) {
    auto pool = BufferPool::Create(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    write_pool_.reset();
    if (options.max_bytes_outstanding != 0) {
      // A budgeted read pool needs its own write pool.
      write_pool_ = std::move(*BufferPool::Create(BufferPoolOptions()));
    }
    auto storage = StoragePool::Create();
    ASSERT_TRUE(storage.ok());
    storage_ = std::move(*storage);
    resources_.read_pool = pool_.get();
    resources_.write_pool = write_pool_.get();
    resources_.storage = storage_.get();
    resources_.options = conn_options;
  }

  std::pair<int, int> SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    return {fds[0], fds[1]};
  }

  SecureConnection* Wrap(int fd, Side side, Collector* handler,
                         absl::Span<const uint8_t> initial = {},
                         size_t max_frame = kDefaultMaxFrameSize) {
    auto conn = SecureConnection::Create(reactor_->base(), wake_.get(), fd,
                                         TestProtector(side, max_frame), &resources_, initial);
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return nullptr;
    (*conn)->Start(handler);
    conns_.push_back(std::move(*conn));
    return conns_.back().get();
  }

  SecureConnection* WrapPlain(int fd, Collector* handler, absl::Span<const uint8_t> initial = {}) {
    auto conn = SecureConnection::CreatePlaintext(reactor_->base(), wake_.get(), fd, &resources_,
                                                  initial);
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return nullptr;
    (*conn)->Start(handler);
    conns_.push_back(std::move(*conn));
    return conns_.back().get();
  }

  std::vector<uint8_t> ReadRaw(int fd, size_t n) {
    std::vector<uint8_t> out(n);
    size_t off = 0;
    while (off < n) {
      ssize_t r = read(fd, out.data() + off, n - off);
      EXPECT_GT(r, 0) << strerror(errno);
      if (r <= 0) break;
      off += static_cast<size_t>(r);
    }
    return out;
  }

  void RunUntil(std::function<bool()> done, absl::Duration timeout = absl::Seconds(20)) {
    absl::Status s = reactor_->RunUntil([&] { return done(); }, timeout);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Runs the loop briefly so pending callbacks fire.
  void Spin() {
    (void)reactor_->RunUntil([] { return false; }, absl::Milliseconds(20));
  }

  void WriteAllRaw(int fd, absl::Span<const uint8_t> bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
      ASSERT_GT(n, 0) << strerror(errno);
      off += static_cast<size_t>(n);
    }
  }

  std::vector<uint8_t> Seal(RecordProtector& p, absl::Span<const uint8_t> pt) {
    std::vector<uint8_t> out(p.SealedSize(pt.size()));
    auto n = p.Seal(pt, absl::MakeSpan(out));
    EXPECT_TRUE(n.ok()) << n.status();
    return out;
  }

  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<WakeQueue> wake_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<BufferPool> write_pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::vector<std::unique_ptr<SecureConnection>> conns_;
};

TEST_F(SecureConnectionTest, RoundTripBothWaysThenIdleHoldsNothing) {
  auto [a, b] = SocketPair();
  Collector client_h, server_h;
  SecureConnection* client = Wrap(a, Side::kClient, &client_h);
  SecureConnection* server = Wrap(b, Side::kServer, &server_h);
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);

  const std::string ping = "ping from the client";
  const std::string pong = "pong from the server";
  auto w = client->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(ping.data()), ping.size()));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, ping.size());
  RunUntil([&] { return server_h.received.size() == ping.size(); });
  EXPECT_EQ(std::string(server_h.received.begin(), server_h.received.end()), ping);
  ASSERT_TRUE(server->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(pong.data()), pong.size())).ok());
  RunUntil([&] { return client_h.received.size() == pong.size(); });
  EXPECT_EQ(std::string(client_h.received.begin(), client_h.received.end()), pong);

  // Idle: no pool buffer anywhere, and each endpoint is small.
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  EXPECT_EQ(client->LeasedBuffers(), 0u);
  EXPECT_EQ(server->LeasedBuffers(), 0u);
  EXPECT_LT(client->HeapBytes(), 1024u);
  EXPECT_LT(server->HeapBytes(), 1024u);
  EXPECT_EQ(client_h.end_calls, 0);
}

TEST_F(SecureConnectionTest, PinnedPolicyHoldsExactlyOneBuffer) {
  ConnectionOptions options;
  options.read_policy = ReadBufferPolicy::kPinned;
  MakePools(BufferPoolOptions(), options);
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  SecureConnection* server = Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(5000, 1);
  ASSERT_TRUE(client->Write(msg).ok());
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(sh.received, msg);
  EXPECT_EQ(client->LeasedBuffers(), 1u);
  EXPECT_EQ(server->LeasedBuffers(), 1u);
  EXPECT_EQ(pool_->stats().outstanding, 2u);
  EXPECT_GE(server->HeapBytes(), 32u * 1024);
}

TEST_F(SecureConnectionTest, EverySplitPointOfAFrame) {
  RecordProtector sender = TestProtector(Side::kClient);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(100, 2);
  std::vector<uint8_t> expected;
  for (size_t split = 0; split <= msg.size() + kFrameOverhead; ++split) {
    std::vector<uint8_t> frame = Seal(sender, msg);
    ASSERT_EQ(frame.size(), msg.size() + kFrameOverhead);
    WriteAllRaw(a, absl::MakeConstSpan(frame).subspan(0, split));
    Spin();
    // Between the pieces no pool buffer is parked on the connection.
    EXPECT_EQ(pool_->stats().outstanding, 0u) << "split " << split;
    WriteAllRaw(a, absl::MakeConstSpan(frame).subspan(split));
    expected.insert(expected.end(), msg.begin(), msg.end());
    RunUntil([&] { return sh.received.size() == expected.size(); });
  }
  EXPECT_EQ(sh.received, expected);
  EXPECT_EQ(sh.end_calls, 0);
  close(a);
}

TEST_F(SecureConnectionTest, ManyFramesInOneReadAreCoalesced) {
  RecordProtector sender = TestProtector(Side::kClient);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  std::vector<uint8_t> wire, expected;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> msg = RandomBytes(1 + i % 50, 100 + i);
    std::vector<uint8_t> f = Seal(sender, msg);
    wire.insert(wire.end(), f.begin(), f.end());
    expected.insert(expected.end(), msg.begin(), msg.end());
  }
  // Include an empty frame: valid, delivers nothing.
  std::vector<uint8_t> empty = Seal(sender, {});
  wire.insert(wire.end(), empty.begin(), empty.end());
  ASSERT_LT(wire.size(), 32u * 1024);
  WriteAllRaw(a, wire);
  RunUntil([&] { return sh.received.size() == expected.size(); });
  EXPECT_EQ(sh.received, expected);
  EXPECT_LE(sh.data_calls, 3);  // one read usually; never one call per frame
  close(a);
}

TEST_F(SecureConnectionTest, WriteAfterCloseIsRefused) {
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &sh);
  client->Close();
  EXPECT_EQ(client->Write(RandomBytes(10, 3)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_TRUE(sh.end_status.ok());
}

TEST_F(SecureConnectionTest, LargeFramesAreAssembledAndDelivered) {
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch, {}, kMaxMaxFrameSize);
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(3 * kMaxMaxFrameSize + 777, 3);
  size_t off = 0;
  ch.on_writable = [&] {
    auto n = client->Write(absl::MakeConstSpan(msg).subspan(off));
    ASSERT_TRUE(n.ok());
    off += *n;
  };
  auto n = client->Write(msg);
  ASSERT_TRUE(n.ok());
  off += *n;
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(off, msg.size());
  EXPECT_EQ(sh.received, msg);
}

TEST_F(SecureConnectionTest, SmallSendBufferForcesPartialWrites) {
  auto [a, b] = SocketPair();
  int small = 4096;
  ASSERT_EQ(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(2 * 1024 * 1024 + 13, 4);
  size_t off = 0;
  auto push = [&] {
    while (off < msg.size()) {
      auto n = client->Write(absl::MakeConstSpan(msg).subspan(off, std::min<size_t>(70000, msg.size() - off)));
      ASSERT_TRUE(n.ok()) << n.status();
      off += *n;
      if (*n == 0) break;
    }
  };
  ch.on_writable = push;
  push();
  EXPECT_LT(off, msg.size());  // back-pressure must have kicked in
  EXPECT_LE(client->pending_write_bytes(), kDefaultWriteHighWater + 32 * 1024);
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(sh.received, msg);
  EXPECT_GT(ch.writable_calls, 0);
  EXPECT_EQ(client->pending_write_bytes(), 0u);
  // Output waited for the socket, so the drain was reported.
  RunUntil([&] { return ch.drained_calls > 0; });
}

TEST_F(SecureConnectionTest, HighWaterMarkRefusesOnlyWhatTheSocketCannotTake) {
  // A low high-water mark on a socket that drains at once: Write flushes
  // before refusing, so everything is accepted and nothing stays queued
  // (a refused Write is always followed by an armed write event).
  ConnectionOptions options;
  options.write_high_water = 4096;
  MakePools(BufferPoolOptions(), options);
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(64 * 1024, 15);
  auto n = client->Write(msg);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, msg.size());
  EXPECT_EQ(client->pending_write_bytes(), 0u);
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(sh.received, msg);
}

TEST_F(SecureConnectionTest, PeerCloseBetweenFramesIsEndOfStream) {
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(1000, 5);
  ASSERT_TRUE(client->Write(msg).ok());
  client->Close();
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_TRUE(sh.end_status.ok()) << sh.end_status;
  EXPECT_EQ(sh.received, msg);
}

TEST_F(SecureConnectionTest, PeerCloseInsideAFrameIsDataLoss) {
  RecordProtector sender = TestProtector(Side::kClient);
  auto [a, b] = SocketPair();
  Collector sh;
  SecureConnection* server = Wrap(b, Side::kServer, &sh);
  std::vector<uint8_t> frame = Seal(sender, RandomBytes(300, 6));
  WriteAllRaw(a, absl::MakeConstSpan(frame).subspan(0, 100));
  close(a);
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_EQ(sh.end_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(sh.end_status.message(), HasSubstr("truncated frame"));
  // Sticky: later calls return the same error; OnEnd is not repeated.
  EXPECT_EQ(server->Write(RandomBytes(10, 7)).status(), sh.end_status);
  Spin();
  EXPECT_EQ(sh.end_calls, 1);
  EXPECT_EQ(server->fd(), -1);
}

TEST_F(SecureConnectionTest, TamperedFrameFailsWithDataLoss) {
  RecordProtector sender = TestProtector(Side::kClient);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  std::vector<uint8_t> good = Seal(sender, RandomBytes(50, 8));
  std::vector<uint8_t> bad = Seal(sender, RandomBytes(50, 9));
  bad[20] ^= 1;
  WriteAllRaw(a, good);
  WriteAllRaw(a, bad);
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_EQ(sh.end_status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(sh.received.size(), 50u);  // the good frame still arrived
  close(a);
}

TEST_F(SecureConnectionTest, MalformedHeaderFailsWithInvalidArgument) {
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  const uint8_t huge[] = {0x00, 0x00, 0x20, 0x00};  // 2 MiB length field
  WriteAllRaw(a, huge);
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_EQ(sh.end_status.code(), absl::StatusCode::kInvalidArgument);
  close(a);
}

TEST_F(SecureConnectionTest, HandshakeLeftoversAreTheFirstInput) {
  RecordProtector sender = TestProtector(Side::kClient);
  const std::vector<uint8_t> m1 = RandomBytes(40, 10), m2 = RandomBytes(70, 11);
  std::vector<uint8_t> f1 = Seal(sender, m1), f2 = Seal(sender, m2);
  // Leftovers: all of f1 and the first 10 bytes of f2; the rest comes later.
  std::vector<uint8_t> leftovers(f1);
  leftovers.insert(leftovers.end(), f2.begin(), f2.begin() + 10);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh, leftovers);
  RunUntil([&] { return sh.received.size() == m1.size(); });
  WriteAllRaw(a, absl::MakeConstSpan(f2).subspan(10));
  RunUntil([&] { return sh.received.size() == m1.size() + m2.size(); });
  std::vector<uint8_t> expected(m1);
  expected.insert(expected.end(), m2.begin(), m2.end());
  EXPECT_EQ(sh.received, expected);
  close(a);
}

TEST_F(SecureConnectionTest, PoolBudgetExhaustionSlowsReadersDown) {
  BufferPoolOptions options;
  options.max_bytes_outstanding = 2 * options.buffer_size;  // two buffers for everyone
  MakePools(options);
  constexpr int kConns = 12;
  std::vector<int> raw_fds;
  std::vector<std::unique_ptr<Collector>> handlers;
  RecordProtector sender = TestProtector(Side::kClient);
  std::vector<uint8_t> wire;
  const std::vector<uint8_t> msg = RandomBytes(20000, 12);
  for (int i = 0; i < kConns; ++i) {
    auto [a, b] = SocketPair();
    raw_fds.push_back(a);
    handlers.push_back(std::make_unique<Collector>());
    Wrap(b, Side::kServer, handlers.back().get());
  }
  for (int i = 0; i < kConns; ++i) {
    RecordProtector s = TestProtector(Side::kClient);
    WriteAllRaw(raw_fds[i], Seal(s, msg));
  }
  RunUntil([&] {
    for (auto& h : handlers) {
      if (h->received.size() != msg.size()) return false;
    }
    return true;
  });
  for (auto& h : handlers) EXPECT_EQ(h->received, msg);
  EXPECT_LE(pool_->stats().high_water_outstanding, 2u);
  for (int fd : raw_fds) close(fd);
}

TEST_F(SecureConnectionTest, BudgetedReadPoolSharedWithWritesIsRefused) {
  BufferPoolOptions options;
  options.max_bytes_outstanding = 4 * options.buffer_size;
  auto pool = std::move(*BufferPool::Create(options));
  ConnectionResources shared{pool.get(), storage_.get(), {}};
  auto [a, b] = SocketPair();
  auto conn = SecureConnection::Create(reactor_->base(), wake_.get(), a,
                                       TestProtector(Side::kClient), &shared);
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(conn.status().message(), HasSubstr("separate write pool"));
  close(b);
}

TEST_F(SecureConnectionTest, HandlerMayDestroyTheConnectionInsideCallbacks) {
  auto [a, b] = SocketPair();
  Collector ch, sh;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &sh);
  sh.on_data = [&](absl::Span<uint8_t>) { conns_.erase(conns_.begin() + 1); };
  ASSERT_TRUE(client->Write(RandomBytes(100, 13)).ok());
  RunUntil([&] { return conns_.size() == 1; });
  // The client sees the server's socket go away as end of stream.
  RunUntil([&] { return ch.end_calls == 1; });
}

TEST_F(SecureConnectionTest, SlowlorisFrameIsClosedAtItsDeadlineHoldingLittle) {
  ConnectionOptions options;
  options.partial_frame_timeout = absl::Milliseconds(300);
  MakePools(BufferPoolOptions(), options);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  // A header announcing a 1 MiB frame, then a byte every 20 ms.
  const uint8_t header[] = {0x00, 0x00, 0x10, 0x00, 0x06, 0x00, 0x00, 0x00};
  WriteAllRaw(a, header);
  size_t max_storage = 0;
  const absl::Time start = absl::Now();
  while (sh.end_calls == 0 && absl::Now() - start < absl::Seconds(5)) {
    const uint8_t byte = 0x42;
    (void)!write(a, &byte, 1);
    (void)reactor_->RunUntil([&] { return sh.end_calls > 0; }, absl::Milliseconds(20));
    max_storage = std::max(max_storage, storage_->OutstandingBytes());
    EXPECT_EQ(pool_->stats().outstanding, 0u);
  }
  ASSERT_EQ(sh.end_calls, 1);
  EXPECT_EQ(sh.end_status.code(), absl::StatusCode::kDeadlineExceeded) << sh.end_status;
  EXPECT_THAT(sh.end_status.message(), HasSubstr("frame not completed"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // Storage was sized to the bytes that arrived, not to the announced MiB.
  EXPECT_LE(max_storage, 1024u);
  close(a);
}

TEST_F(SecureConnectionTest, TrickledFrameWithinTheDeadlineIsDelivered) {
  ConnectionOptions options;
  options.partial_frame_timeout = absl::Seconds(5);
  MakePools(BufferPoolOptions(), options);
  RecordProtector sender = TestProtector(Side::kClient);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  const std::vector<uint8_t> msg = RandomBytes(60, 16);
  std::vector<uint8_t> frame = Seal(sender, msg);
  for (uint8_t byte : frame) {
    WriteAllRaw(a, absl::MakeConstSpan(&byte, 1));
    (void)reactor_->RunUntil([] { return false; }, absl::Milliseconds(2));
  }
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(sh.received, msg);
  EXPECT_EQ(sh.end_calls, 0);
  close(a);
}

TEST_F(SecureConnectionTest, FrameAboveThePerConnectionCapIsRefusedAtItsHeader) {
  ConnectionOptions options;
  options.max_frame_size_in = 64 * 1024;
  MakePools(BufferPoolOptions(), options);
  auto [a, b] = SocketPair();
  Collector sh;
  Wrap(b, Side::kServer, &sh);
  const uint8_t header[] = {0x00, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00};  // 128 KiB
  WriteAllRaw(a, header);
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_EQ(sh.end_status.code(), absl::StatusCode::kResourceExhausted) << sh.end_status;
  EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  close(a);
}

TEST_F(SecureConnectionTest, IdleTimeoutClosesSilentConnectionsOnly) {
  ConnectionOptions options;
  options.idle_timeout = absl::Milliseconds(300);
  MakePools(BufferPoolOptions(), options);
  auto [a, b] = SocketPair();
  auto [c, d] = SocketPair();
  Collector ah, bh, ch, dh;
  SecureConnection* busy = Wrap(a, Side::kClient, &ah);
  Wrap(b, Side::kServer, &bh);
  Wrap(c, Side::kClient, &ch);
  Wrap(d, Side::kServer, &dh);
  const absl::Time start = absl::Now();
  // Keep one pair busy (client writes every 50 ms); leave the other silent.
  while (absl::Now() - start < absl::Milliseconds(800)) {
    ASSERT_TRUE(busy->Write(RandomBytes(10, 17)).ok());
    (void)reactor_->RunUntil([] { return false; }, absl::Milliseconds(50));
  }
  EXPECT_EQ(ch.end_calls, 1);
  EXPECT_EQ(ch.end_status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(ch.end_status.message(), HasSubstr("idle"));
  EXPECT_EQ(ah.end_calls, 0) << ah.end_status;  // writing keeps the writer alive
  EXPECT_EQ(bh.end_calls, 0) << bh.end_status;  // reading keeps the reader alive
}

// Keeper takes the lease it is handed (zero-copy consumer).
class Keeper : public Collector {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    Collector::OnData(data, lease);
    if (lease) {
      kept_span = data;
      kept = std::move(lease);
    }
  }
  BufferLease kept;
  absl::Span<uint8_t> kept_span;
};

TEST_F(SecureConnectionTest, ZeroCopyConsumerMayKeepTheLease) {
  auto [a, b] = SocketPair();
  Collector ch;
  Keeper keeper;
  SecureConnection* client = Wrap(a, Side::kClient, &ch);
  Wrap(b, Side::kServer, &keeper);
  const std::vector<uint8_t> msg = RandomBytes(500, 14);
  ASSERT_TRUE(client->Write(msg).ok());
  RunUntil([&] { return keeper.received.size() == msg.size(); });
  ASSERT_TRUE(keeper.kept);
  EXPECT_EQ(pool_->stats().outstanding, 1u);
  EXPECT_EQ(std::vector<uint8_t>(keeper.kept_span.begin(), keeper.kept_span.end()), msg);
  keeper.kept.Reset();
  EXPECT_EQ(pool_->stats().outstanding, 0u);
}

TEST_F(SecureConnectionTest, PlaintextBytesCrossUnchangedAndIdleHoldsNothing) {
  auto [a, b] = SocketPair();
  Collector h;
  SecureConnection* conn = WrapPlain(b, &h);
  ASSERT_NE(conn, nullptr);
  EXPECT_TRUE(conn->plaintext());
  EXPECT_EQ(conn->protector(), nullptr);
  const std::vector<uint8_t> in = RandomBytes(70000, 21);
  WriteAllRaw(a, in);
  RunUntil([&] { return h.received.size() == in.size(); });
  EXPECT_EQ(h.received, in);
  const std::vector<uint8_t> out = RandomBytes(5000, 22);
  auto n = conn->Write(out);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, out.size());
  EXPECT_EQ(ReadRaw(a, out.size()), out);  // on the wire as written: no framing
  EXPECT_EQ(conn->LeasedBuffers(), 0u);
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  EXPECT_LT(conn->HeapBytes(), 1024u);
  close(a);
  RunUntil([&] { return h.end_calls == 1; });
  EXPECT_TRUE(h.end_status.ok()) << h.end_status;
}

TEST_F(SecureConnectionTest, PlaintextPairUnderBackPressure) {
  auto [a, b] = SocketPair();
  int small = 4096;
  ASSERT_EQ(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  Collector ch, sh;
  SecureConnection* client = WrapPlain(a, &ch);
  WrapPlain(b, &sh);
  const std::vector<uint8_t> msg = RandomBytes(3 * 1024 * 1024 + 7, 23);
  size_t off = 0;
  auto push = [&] {
    while (off < msg.size()) {
      auto n = client->Write(absl::MakeConstSpan(msg).subspan(off, std::min<size_t>(90000, msg.size() - off)));
      ASSERT_TRUE(n.ok()) << n.status();
      off += *n;
      if (*n == 0) break;
    }
  };
  ch.on_writable = push;
  push();
  EXPECT_LT(off, msg.size());
  RunUntil([&] { return sh.received.size() == msg.size(); });
  EXPECT_EQ(sh.received, msg);
  client->Close();
  RunUntil([&] { return sh.end_calls == 1; });
  EXPECT_TRUE(sh.end_status.ok()) << sh.end_status;
}

TEST_F(SecureConnectionTest, PlaintextInitialBytesAreTheFirstInput) {
  auto [a, b] = SocketPair();
  Collector h;
  const std::vector<uint8_t> first = RandomBytes(300, 24), later = RandomBytes(200, 25);
  WrapPlain(b, &h, first);
  RunUntil([&] { return h.received.size() == first.size(); });
  WriteAllRaw(a, later);
  RunUntil([&] { return h.received.size() == first.size() + later.size(); });
  std::vector<uint8_t> expected(first);
  expected.insert(expected.end(), later.begin(), later.end());
  EXPECT_EQ(h.received, expected);
  close(a);
}


}  // namespace
}  // namespace alts
