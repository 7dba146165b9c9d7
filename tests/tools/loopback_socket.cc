#include "tests/tools/loopback_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/tools/process_runner.h"

namespace alts::testing {
namespace {

using Clock = std::chrono::steady_clock;

// kReadChunk is how much one read takes from the socket.
constexpr size_t kReadChunk = 4096;

// LoopbackAddress returns 127.0.0.1:`port`.
sockaddr_in LoopbackAddress(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

LoopbackSocket::LoopbackSocket(LoopbackSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

LoopbackSocket& LoopbackSocket::operator=(LoopbackSocket&& other) noexcept {
  std::swap(fd_, other.fd_);
  return *this;
}

LoopbackSocket::~LoopbackSocket() {
  if (fd_ >= 0) close(fd_);
}

LoopbackSocket LoopbackSocket::Connect(int port) {
  LoopbackSocket s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = LoopbackAddress(port);
  if (s.fd_ < 0 || connect(s.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect to " << port << ": " << std::strerror(errno);
  }
  return s;
}

LoopbackSocket LoopbackSocket::Listen(int& port) {
  LoopbackSocket s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = LoopbackAddress(0);
  socklen_t len = sizeof(addr);
  if (s.fd_ < 0 || bind(s.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(s.fd_, 1) != 0 || getsockname(s.fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "listen: " << std::strerror(errno);
  }
  port = ntohs(addr.sin_port);
  return s;
}

LoopbackSocket LoopbackSocket::Accept() {
  pollfd pfd = {fd_, POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(kProcessDeadline.count() * 1000)) != 1) {
    ADD_FAILURE() << "no connection to accept";
    return LoopbackSocket();
  }
  return LoopbackSocket(accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
}

std::string LoopbackSocket::LocalName() const {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(addr.sin_port));
}

bool LoopbackSocket::Send(absl::Span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool LoopbackSocket::Send(absl::string_view bytes) {
  return Send(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

void LoopbackSocket::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

ssize_t LoopbackSocket::ReadSome(absl::Span<uint8_t> buf) {
  return ReadSomeBy(Clock::now() + kProcessDeadline, buf);
}

ssize_t LoopbackSocket::ReadSomeBy(Clock::time_point deadline, absl::Span<uint8_t> buf) {
  while (Clock::now() < deadline) {
    pollfd pfd = {fd_, POLLIN, 0};
    if (poll(&pfd, 1, kPollSliceMs) <= 0) continue;
    const ssize_t n = read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
  return -1;
}

std::vector<uint8_t> LoopbackSocket::Read(size_t n) {
  std::vector<uint8_t> out;
  const auto deadline = Clock::now() + kProcessDeadline;
  uint8_t buf[kReadChunk];
  while (out.size() < n) {
    const ssize_t got =
        ReadSomeBy(deadline, absl::MakeSpan(buf, std::min(sizeof(buf), n - out.size())));
    if (got <= 0) break;
    out.insert(out.end(), buf, buf + got);
  }
  return out;
}

size_t LoopbackSocket::ReadToEnd() { return Read(SIZE_MAX).size(); }

bool LoopbackSocket::ReadsEndOfStream() {
  uint8_t buf[kReadChunk];
  for (;;) {
    const ssize_t n = ReadSome(absl::MakeSpan(buf));
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

int UnusedLoopbackPort() {
  int port = 0;
  LoopbackSocket probe = LoopbackSocket::Listen(port);
  return port;
}

}  // namespace alts::testing
