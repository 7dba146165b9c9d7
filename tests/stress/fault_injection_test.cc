// alts-test-labels: threads
// The socket shim itself: each fault does what it says on plain sockets,
// decisions repeat for a seed, and unenrolled sockets are left alone.
#include "tests/stress/fault_injection.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "conn/socket_util.h"
#include "gtest/gtest.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

std::pair<int, int> UnixPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {fds[0], fds[1]};
}

// TcpPair returns a connected loopback TCP pair (blocking).
std::pair<int, int> TcpPair() {
  absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1:0");
  EXPECT_TRUE(any.ok());
  absl::StatusOr<int> listener = ListenTcp(*any, 4);
  EXPECT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<std::pair<int, int>> pair = ConnectedTcpPair(*listener);
  EXPECT_TRUE(pair.ok()) << pair.status();
  close(*listener);
  return *pair;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

void WriteAll(int fd, absl::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    ASSERT_GT(n, 0) << strerror(errno);
    off += static_cast<size_t>(n);
  }
}

// ReadAll reads until EOF or an error; returns the bytes and the errno of
// the error (0 for EOF).
std::string ReadAll(int fd, int* err) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    *err = n == 0 ? 0 : errno;
    return out;
  }
}

TEST(FaultInjectionTest, UnenrolledSocketsPassThrough) {
  FaultPlan plan(1);
  auto [a, b] = UnixPair();
  WriteAll(a, "hello");
  char buf[16];
  EXPECT_EQ(recv(b, buf, sizeof(buf), 0), 5);
  EXPECT_EQ(plan.counts().Total(), 0u);
  EXPECT_TRUE(plan.records().empty());
  close(a);
  close(b);
}

TEST(FaultInjectionTest, ShortReadsAndWritesCutEveryCall) {
  FaultPlan plan(2);
  auto [a, b] = UnixPair();
  FdFaults faults;
  faults.short_read = 1;
  faults.short_write = 1;
  plan.Add(a, faults);
  plan.Add(b, faults);
  const std::string msg(1000, 'x');
  ssize_t w = send(a, msg.data(), msg.size(), 0);
  ASSERT_GT(w, 0);
  EXPECT_LT(w, 1000);  // cut
  char buf[2000];
  ssize_t r = recv(b, buf, static_cast<size_t>(w), 0);
  ASSERT_GT(r, 0);
  ASSERT_LT(r, w);  // cut although `w` bytes are there
  // One byte asked for cannot be cut.
  EXPECT_EQ(recv(b, buf, 1, 0), 1);
  FaultCounts counts = plan.counts();
  EXPECT_EQ(counts[Fault::kShortWrite], 1u);
  EXPECT_EQ(counts[Fault::kShortRead], 1u);
  EXPECT_EQ(plan.record(0).bytes_written, w);
  EXPECT_EQ(plan.record(1).bytes_read, r + 1);
  close(a);
  close(b);
}

TEST(FaultInjectionTest, EintrStormsEndAndThenTheCallSucceeds) {
  FaultPlan plan(3);
  auto [a, b] = UnixPair();
  FdFaults faults;
  faults.eintr = 0.5;
  faults.max_storm = 5;
  plan.Add(b, faults);
  WriteAll(a, std::string(64, 'd'));
  char buf[1];
  int interrupted = 0;
  for (int got = 0; got < 64;) {
    ssize_t n = recv(b, buf, sizeof(buf), 0);
    if (n < 0) {
      ASSERT_EQ(errno, EINTR);
      ++interrupted;
      continue;
    }
    ASSERT_EQ(n, 1);
    ++got;
  }
  EXPECT_GT(interrupted, 0);
  EXPECT_EQ(plan.counts()[Fault::kEintr], static_cast<uint64_t>(interrupted));
  close(b);
  close(a);
}

TEST(FaultInjectionTest, EagainOnlyOnNonBlockingSockets) {
  FaultPlan plan(4);
  auto [a, b] = UnixPair();
  FdFaults faults;
  faults.eagain = 0.5;
  plan.Add(b, faults);
  WriteAll(a, std::string(100, 'y'));
  char buf[200];
  // Blocking socket: never a spurious EAGAIN.
  EXPECT_EQ(recv(b, buf, 10, 0), 10);
  EXPECT_EQ(plan.counts()[Fault::kEagain], 0u);
  SetNonBlocking(b);
  size_t got = 10;
  int spurious = 0;
  while (got < 100) {
    ssize_t n = recv(b, buf, 10, 0);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN);
      ++spurious;
      continue;
    }
    got += static_cast<size_t>(n);
  }
  EXPECT_GT(spurious, 0);
  EXPECT_EQ(plan.counts()[Fault::kEagain], static_cast<uint64_t>(spurious));
  close(a);
  close(b);
}

TEST(FaultInjectionTest, ResetSendsAnRstAfterExactlyNBytes) {
  const int fds_before = CountOpenFds();
  {
    FaultPlan plan(5);
    auto [a, b] = TcpPair();
    FdFaults faults;
    faults.reset_after = 700;
    faults.capture = true;
    plan.Add(a, faults);
    const std::string msg = std::string(500, 'a') + std::string(500, 'b');
    EXPECT_EQ(send(a, msg.data(), 500, 0), 500);
    // The second write crosses the limit: 200 bytes go out, then the RST.
    EXPECT_EQ(send(a, msg.data() + 500, 500, 0), -1);
    EXPECT_EQ(errno, ECONNRESET);
    EXPECT_EQ(send(a, "z", 1, 0), -1);
    EXPECT_EQ(errno, ECONNRESET);
    char c;
    EXPECT_EQ(recv(a, &c, 1, 0), -1);
    EXPECT_EQ(errno, ECONNRESET);
    int err = 0;
    const std::string got = ReadAll(b, &err);
    EXPECT_EQ(got, msg.substr(0, 700));
    EXPECT_EQ(err, ECONNRESET);
    // The fd stays valid (a placeholder) until its owner closes it.
    EXPECT_GE(fcntl(a, F_GETFD), 0);
    FdRecord rec = plan.record(0);
    EXPECT_TRUE(rec.reset);
    EXPECT_EQ(rec.bytes_written, 700);
    EXPECT_EQ(rec.written, msg.substr(0, 700));
    EXPECT_EQ(close(a), 0);
    EXPECT_TRUE(plan.record(0).closed);
    close(b);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(FaultInjectionTest, HalfCloseEndsOneDirectionOnly) {
  FaultPlan plan(6);
  auto [a, b] = TcpPair();
  FdFaults faults;
  faults.half_close_after = 10;
  plan.Add(a, faults);
  EXPECT_EQ(send(a, "0123456789abcdef", 16, MSG_NOSIGNAL), 10);
  EXPECT_EQ(send(a, "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
  int err = -1;
  EXPECT_EQ(ReadAll(b, &err), "0123456789");
  EXPECT_EQ(err, 0);  // a clean EOF
  // The other direction still works.
  WriteAll(b, "reply");
  char buf[16];
  EXPECT_EQ(recv(a, buf, sizeof(buf), 0), 5);
  EXPECT_EQ(plan.counts()[Fault::kHalfClose], 1u);
  close(a);
  close(b);
}

TEST(FaultInjectionTest, StallDelaysBytesInOrderAndDefersClose) {
  const int fds_before = CountOpenFds();
  FaultPlan plan(7);
  auto [a, b] = UnixPair();
  FdFaults faults;
  faults.stall = 1;
  faults.stall_for = absl::Milliseconds(50);
  plan.Add(a, faults);
  const absl::Time start = absl::Now();
  EXPECT_EQ(send(a, "first,", 6, 0), 6);
  EXPECT_EQ(send(a, "second", 6, 0), 6);  // queued behind the first
  pollfd p{b, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);  // nothing arrived yet
  EXPECT_EQ(shutdown(a, SHUT_WR), 0);
  EXPECT_EQ(close(a), 0);  // deferred until the bytes are out
  int err = -1;
  EXPECT_EQ(ReadAll(b, &err), "first,second");
  EXPECT_EQ(err, 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  EXPECT_TRUE(plan.WaitForDelayedBytes(absl::Seconds(5)));
  close(b);
  EXPECT_EQ(CountOpenFds(), fds_before + 0);
  EXPECT_EQ(plan.counts()[Fault::kStall], 1u);
}

TEST(FaultInjectionTest, AcceptedAndConnectedSocketsAreEnrolled) {
  FaultPlan plan(8);
  FdFaults faults;
  faults.capture = true;
  plan.EnrollAccepted(faults);
  plan.EnrollConnected(faults);
  auto [client, server] = TcpPair();
  std::vector<FdRecord> records = plan.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fd, client);  // connect comes first
  EXPECT_EQ(records[1].fd, server);
  WriteAll(client, "abc");
  EXPECT_EQ(plan.record(0).written, "abc");
  close(client);
  close(server);
}

TEST(FaultInjectionTest, AcceptFaults) {
  FaultPlan plan(9);
  absl::StatusOr<int> listener = ListenTcp(*ParseSocketAddress("127.0.0.1:0"), 4);
  ASSERT_TRUE(listener.ok());
  plan.SetAcceptFaults(0.5, 0.5);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SocketAddress address = *LocalAddress(*listener);
  ASSERT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&address.storage), address.length),
            0);
  int accepted = -1;
  int failures = 0;
  while (accepted < 0) {
    accepted = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (accepted < 0) {
      ASSERT_TRUE(errno == EINTR || errno == EAGAIN) << strerror(errno);
      ++failures;
    }
  }
  FaultCounts counts = plan.counts();
  EXPECT_EQ(counts[Fault::kAcceptEintr] + counts[Fault::kAcceptEagain],
            static_cast<uint64_t>(failures));
  close(accepted);
  close(client);
  close(*listener);
}

// Decisions: the same seed and the same calls give the same faults; another
// seed gives others.
std::vector<ssize_t> Trace(uint64_t seed) {
  FaultPlan plan(seed);
  auto [a, b] = UnixPair();
  SetNonBlocking(b);
  FdFaults faults;
  faults.short_read = 0.3;
  faults.eintr = 0.2;
  faults.eagain = 0.2;
  plan.Add(b, faults);
  WriteAll(a, std::string(4000, 'q'));
  std::vector<ssize_t> trace;
  char buf[512];
  size_t got = 0;
  while (got < 4000) {
    ssize_t n = recv(b, buf, sizeof(buf), 0);
    trace.push_back(n < 0 ? -errno : n);
    if (n > 0) got += static_cast<size_t>(n);
  }
  close(a);
  close(b);
  return trace;
}

TEST(FaultInjectionTest, DecisionsAreAFunctionOfTheSeed) {
  EXPECT_EQ(Trace(42), Trace(42));
  EXPECT_NE(Trace(42), Trace(43));
}

}  // namespace
}  // namespace alts::testing
