#ifndef ALTS_TESTS_TOOLS_LOOPBACK_SOCKET_H_
#define ALTS_TESTS_TOOLS_LOOPBACK_SOCKET_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::testing {

// LoopbackSocket is an owned, blocking TCP socket on 127.0.0.1, for peers a
// test scripts byte by byte against a tool. Failures to connect, listen or
// accept are reported as test failures (ADD_FAILURE) and leave an invalid
// socket, whose later calls fail. Every read gives up at kProcessDeadline.
class LoopbackSocket {
 public:
  // LoopbackSocket takes ownership of `fd` (-1: no socket).
  explicit LoopbackSocket(int fd = -1) : fd_(fd) {}
  LoopbackSocket(LoopbackSocket&& other) noexcept;
  LoopbackSocket& operator=(LoopbackSocket&& other) noexcept;
  ~LoopbackSocket();

  // Connect connects to 127.0.0.1:`port`.
  static LoopbackSocket Connect(int port);

  // Listen binds 127.0.0.1 on a free port and listens; `port` receives it.
  static LoopbackSocket Listen(int& port);

  // fd returns the descriptor, still owned by this socket.
  int fd() const { return fd_; }

  // Accept waits (up to kProcessDeadline) for a connection to this listening
  // socket and returns it.
  LoopbackSocket Accept();

  // LocalName returns "127.0.0.1:<port>" of this end, what a server prints
  // as the peer; "?" if the socket has no name.
  std::string LocalName() const;

  // Send writes all of `bytes`; failures (the peer may already be gone) are
  // returned, not asserted.
  bool Send(absl::Span<const uint8_t> bytes);
  bool Send(absl::string_view bytes);

  // ShutdownWrite sends EOF to the peer.
  void ShutdownWrite();

  // ReadSome reads what arrives into `buf`: > 0 bytes, 0 at EOF, -1 on error
  // (errno says which, e.g. ECONNRESET) or at the deadline.
  ssize_t ReadSome(absl::Span<uint8_t> buf);

  // Read reads exactly `n` bytes, or fewer if the peer closes or the deadline
  // passes.
  std::vector<uint8_t> Read(size_t n);

  // ReadToEnd reads until EOF or reset; returns the byte count.
  size_t ReadToEnd();

  // ReadsEndOfStream returns true once the peer closes (EOF or reset),
  // discarding anything that arrives before; false on another error or at
  // the deadline.
  bool ReadsEndOfStream();

 private:
  // ReadSomeBy is ReadSome with the deadline given.
  ssize_t ReadSomeBy(std::chrono::steady_clock::time_point deadline, absl::Span<uint8_t> buf);

  int fd_;
};

// UnusedLoopbackPort returns a port on 127.0.0.1 that was free a moment ago
// (bound, then released). Nothing holds it: tests use it to be refused or to
// listen on it later.
int UnusedLoopbackPort();

}  // namespace alts::testing

#endif  // ALTS_TESTS_TOOLS_LOOPBACK_SOCKET_H_
