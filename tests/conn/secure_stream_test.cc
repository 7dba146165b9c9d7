// alts-test-labels: threads
#include "conn/secure_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "conn/fd_ready_reader.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/wake_queue.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"
#include "tests/conn/test_sync.h"

namespace alts {
namespace {

using ::alts::testing::EchoHandler;
using ::alts::testing::GroupOptions;
using ::alts::testing::RandomBytes;
using ::alts::testing::TestProtector;

// EchoServer runs a non-blocking SecureConnection on a one-thread reactor
// group that echoes everything and closes after the peer's EOF.
class EchoServer {
 public:
  EchoServer(int fd, const ConnectionResources* resources) {
    auto group = ReactorGroup::Create(GroupOptions(1));
    EXPECT_TRUE(group.ok());
    group_ = std::move(*group);
    Reactor& r = group_->reactor(0);
    TestNotification ready;
    r.Post([&, fd, resources] {
      wake_ = std::move(*WakeQueue::Create(r.base()));
      conn_ = std::move(*SecureConnection::Create(r.base(), wake_.get(), fd,
                                                  TestProtector(Side::kServer), resources));
      echo_ = std::make_unique<EchoHandler>(conn_.get());
      conn_->Start(echo_.get());
      ready.Notify();
    });
    ready.WaitForNotification();
  }
  ~EchoServer() {
    TestNotification done;
    group_->reactor(0).Post([&] {
      conn_.reset();
      echo_.reset();
      wake_.reset();
      done.Notify();
    });
    done.WaitForNotification();
    group_->Shutdown();
  }

 private:
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<WakeQueue> wake_;
  std::unique_ptr<SecureConnection> conn_;
  std::unique_ptr<EchoHandler> echo_;
};

class SecureStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::move(*BufferPool::Create({}));
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    client_fd_ = fds[0];
    server_fd_ = fds[1];
  }

  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  int client_fd_ = -1;
  int server_fd_ = -1;
};

TEST_F(SecureStreamTest, BlockingClientAgainstNonBlockingEchoServer) {
  const std::vector<uint8_t> data = RandomBytes(3 * 1024 * 1024 + 5, 1);
  std::vector<uint8_t> echoed;
  {
    EchoServer server(server_fd_, &resources_);
    auto stream = SecureStream::Create(client_fd_, TestProtector(Side::kClient), pool_.get(),
                                       storage_.get());
    ASSERT_TRUE(stream.ok()) << stream.status();
    std::thread writer([&] {
      std::mt19937 rng(2);
      size_t off = 0;
      while (off < data.size()) {
        const size_t n = std::min<size_t>(1 + rng() % 100000, data.size() - off);
        ASSERT_TRUE((*stream)->Write(absl::MakeConstSpan(data).subspan(off, n)).ok());
        off += n;
      }
      shutdown((*stream)->fd(), SHUT_WR);
    });
    // Small reads exercise the surplus path (plaintext beyond the span).
    uint8_t buf[777];
    for (;;) {
      auto n = (*stream)->Read(absl::MakeSpan(buf));
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0) break;
      echoed.insert(echoed.end(), buf, buf + *n);
    }
    writer.join();
    EXPECT_LT((*stream)->HeapBytes(), 1024u);
  }
  EXPECT_EQ(echoed.size(), data.size());
  EXPECT_TRUE(echoed == data);
  EXPECT_EQ(pool_->stats().outstanding, 0u);
}

TEST_F(SecureStreamTest, ReadTimesOutHoldingNothingAndLosesNothing) {
  auto stream = SecureStream::Create(client_fd_, TestProtector(Side::kClient), pool_.get(),
                                     storage_.get());
  ASSERT_TRUE(stream.ok());
  RecordProtector server = TestProtector(Side::kServer);
  std::vector<uint8_t> frame(server.SealedSize(10));
  ASSERT_TRUE(server.Seal(RandomBytes(10, 3), absl::MakeSpan(frame)).ok());
  // Half a frame, then a timeout: not an error, and the half is kept.
  ASSERT_EQ(write(server_fd_, frame.data(), 15), 15);
  uint8_t buf[64];
  auto r = (*stream)->Read(absl::MakeSpan(buf), absl::Milliseconds(50));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  ASSERT_EQ(write(server_fd_, frame.data() + 15, frame.size() - 15),
            static_cast<ssize_t>(frame.size() - 15));
  r = (*stream)->Read(absl::MakeSpan(buf), absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 10u);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 10), RandomBytes(10, 3));
  close(server_fd_);
  r = (*stream)->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u);  // clean EOF between frames
}

TEST_F(SecureStreamTest, TamperedFrameAfterGoodOneDeliversGoodThenDataLoss) {
  auto stream = SecureStream::Create(client_fd_, TestProtector(Side::kClient), pool_.get(),
                                     storage_.get());
  ASSERT_TRUE(stream.ok());
  RecordProtector server = TestProtector(Side::kServer);
  std::vector<uint8_t> wire(server.SealedSize(20) * 2);
  ASSERT_TRUE(server.Seal(RandomBytes(20, 4), absl::MakeSpan(wire).subspan(0, 44)).ok());
  ASSERT_TRUE(server.Seal(RandomBytes(20, 5), absl::MakeSpan(wire).subspan(44)).ok());
  wire[60] ^= 0x40;
  ASSERT_EQ(write(server_fd_, wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
  uint8_t buf[64];
  auto r = (*stream)->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 20u);
  r = (*stream)->Read(absl::MakeSpan(buf));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  r = (*stream)->Read(absl::MakeSpan(buf));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);  // sticky
  close(server_fd_);
}

TEST_F(SecureStreamTest, TruncatedFrameAtEofIsDataLoss) {
  auto stream = SecureStream::Create(client_fd_, TestProtector(Side::kClient), pool_.get(),
                                     storage_.get());
  ASSERT_TRUE(stream.ok());
  RecordProtector server = TestProtector(Side::kServer);
  std::vector<uint8_t> frame(server.SealedSize(100));
  ASSERT_TRUE(server.Seal(RandomBytes(100, 6), absl::MakeSpan(frame)).ok());
  ASSERT_EQ(write(server_fd_, frame.data(), 50), 50);
  close(server_fd_);
  uint8_t buf[128];
  auto r = (*stream)->Read(absl::MakeSpan(buf));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SecureStreamTest, InitialBytesAreReadFirst) {
  RecordProtector server = TestProtector(Side::kServer);
  std::vector<uint8_t> frame(server.SealedSize(33));
  ASSERT_TRUE(server.Seal(RandomBytes(33, 7), absl::MakeSpan(frame)).ok());
  auto stream = SecureStream::Create(client_fd_, TestProtector(Side::kClient), pool_.get(),
                                     storage_.get(), frame);
  ASSERT_TRUE(stream.ok()) << stream.status();
  uint8_t buf[64];
  auto r = (*stream)->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + *r), RandomBytes(33, 7));
  close(server_fd_);
}

// Plain reader: bytes arrive in leases; nothing is held between wakeups.
class Sink : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    EXPECT_TRUE(static_cast<bool>(lease));
    bytes.insert(bytes.end(), data.begin(), data.end());
  }
  void OnEnd(const absl::Status& s) override {
    ended = true;
    status = s;
  }
  std::vector<uint8_t> bytes;
  bool ended = false;
  absl::Status status;
};

TEST_F(SecureStreamTest, FdReadyReaderDeliversLeasesAndHoldsNothingIdle) {
  auto reactor = Reactor::CreateUnthreaded();
  ASSERT_TRUE(reactor.ok());
  auto wake = WakeQueue::Create((*reactor)->base());
  ASSERT_TRUE(wake.ok());
  auto reader = FdReadyReader::Create((*reactor)->base(), wake->get(), server_fd_, pool_.get());
  ASSERT_TRUE(reader.ok());
  Sink sink;
  (*reader)->Start(&sink);
  const std::vector<uint8_t> data = RandomBytes(100000, 8);
  ASSERT_EQ(write(client_fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_TRUE((*reactor)->RunUntil([&] { return sink.bytes.size() == data.size(); },
                                   absl::Seconds(10)).ok());
  EXPECT_EQ(sink.bytes, data);
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  close(client_fd_);
  ASSERT_TRUE((*reactor)->RunUntil([&] { return sink.ended; }, absl::Seconds(10)).ok());
  EXPECT_TRUE(sink.status.ok());
  reader->reset();
  wake->reset();
}

}  // namespace
}  // namespace alts
