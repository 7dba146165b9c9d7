#ifndef ALTS_CONN_SOCKET_UTIL_H_
#define ALTS_CONN_SOCKET_UTIL_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace alts {

// SocketAddress is a resolved numeric address (IPv4 or IPv6) and port.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // ToString formats "1.2.3.4:80" or "[::1]:80".
  std::string ToString() const;
  int family() const { return storage.ss_family; }
};

// ParseSocketAddress parses "HOST:PORT" where HOST is a numeric IPv4
// address, "[IPv6]", or "localhost". Returns kInvalidArgument naming the
// problem otherwise (no DNS lookups: a transport should not block on them).
absl::StatusOr<SocketAddress> ParseSocketAddress(absl::string_view host_port);

// ListenTcp creates a non-blocking listening TCP socket bound to `address`
// (SO_REUSEADDR) with `backlog`. Returns the fd, or kUnavailable/kInternal
// with the errno text.
absl::StatusOr<int> ListenTcp(const SocketAddress& address, int backlog = 4096);

// LocalAddress returns the address a socket is bound to (e.g. the port
// picked for port 0).
absl::StatusOr<SocketAddress> LocalAddress(int fd);

// ConnectTcp starts a non-blocking connect to `address` and returns the fd
// (the connect may still be in progress: wait for writability, then check
// ConnectResult). TCP_NODELAY is set.
absl::StatusOr<int> ConnectTcp(const SocketAddress& address);

// ConnectResult returns OK if a non-blocking connect on `fd` succeeded, or
// the error (kUnavailable for refused/unreachable) once it is writable.
absl::Status ConnectResult(int fd);

// AcceptTcp accepts one connection from a listening socket; the new fd is
// non-blocking with TCP_NODELAY. If `peer` is given it receives the
// connection's remote address. Errors (errno is left as accept4 set it):
// kUnavailable ("would block") when none is pending; kResourceExhausted when
// the process or system is out of descriptors or memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM: the listening socket stays readable, so the caller must
// back off rather than retry at once); kAborted when one pending connection
// failed (ECONNABORTED, EPROTO, ...: take the next one); kInternal otherwise.
absl::StatusOr<int> AcceptTcp(int listen_fd, SocketAddress* peer = nullptr);

// SourceKey identifies where a connection comes from for per-source
// limits: the whole address for IPv4 (and IPv4-mapped IPv6), the /64 prefix
// for IPv6, which is what one host or subscriber usually holds.
struct SourceKey {
  std::array<uint8_t, 9> bytes{};  // family tag, then up to 8 address bytes
  friend bool operator==(const SourceKey&, const SourceKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const SourceKey& k) {
    return H::combine_contiguous(std::move(h), k.bytes.data(), k.bytes.size());
  }
};

// SourceKeyOf returns the SourceKey of `address` (all zero for a family
// other than IPv4 and IPv6).
SourceKey SourceKeyOf(const SocketAddress& address);

// ConnectedTcpPair returns a connected (client, server) pair of blocking TCP
// sockets through `listen_fd` (a listener on a loopback address): for tests
// and benchmarks that need real TCP endpoints in one process.
absl::StatusOr<std::pair<int, int>> ConnectedTcpPair(int listen_fd);

}  // namespace alts

#endif  // ALTS_CONN_SOCKET_UTIL_H_
