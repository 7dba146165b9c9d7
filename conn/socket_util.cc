#include "conn/socket_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace alts {
namespace {

absl::Status ErrnoError(absl::string_view what, int err) {
  if (err == ECONNREFUSED || err == ENETUNREACH || err == EHOSTUNREACH || err == ETIMEDOUT ||
      err == ECONNRESET || err == EADDRINUSE || err == EAGAIN || err == EMFILE ||
      err == ENFILE) {
    return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
  }
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

std::string SocketAddress::ToString() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (storage.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(a->sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(a->sin6_port));
  }
  return "?";
}

absl::StatusOr<SocketAddress> ParseSocketAddress(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address '", host_port, "' lacks :PORT"));
  }
  absl::string_view host = host_port.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(host_port.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in address '", host_port, "'"));
  }
  if (host == "localhost") host = "127.0.0.1";
  SocketAddress out;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string h(host.substr(1, host.size() - 2));
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (inet_pton(AF_INET6, h.c_str(), &a->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 address '", h, "'"));
    }
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  std::string h(host);
  auto* a = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (inet_pton(AF_INET, h.c_str(), &a->sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad host '", h, "': use a numeric IPv4 address, [IPv6] or localhost"));
  }
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(port));
  out.length = sizeof(sockaddr_in);
  return out;
}

absl::StatusOr<int> ListenTcp(const SocketAddress& address, int backlog) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoError(absl::StrCat("bind ", address.ToString()), err);
  }
  if (listen(fd, backlog) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoError("listen", err);
  }
  return fd;
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  SocketAddress out;
  out.length = sizeof(out.storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length) != 0) {
    return ErrnoError("getsockname", errno);
  }
  return out;
}

absl::StatusOr<int> ConnectTcp(const SocketAddress& address) {
  const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  SetNoDelay(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0 &&
      errno != EINPROGRESS) {
    const int err = errno;
    close(fd);
    return ErrnoError(absl::StrCat("connect ", address.ToString()), err);
  }
  return fd;
}

absl::Status ConnectResult(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return ErrnoError("connect", err);
  return absl::OkStatus();
}

absl::StatusOr<int> AcceptTcp(int listen_fd, SocketAddress* peer) {
  int fd;
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  do {
    length = sizeof(storage);
    fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&storage), &length,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    absl::Status status;
    switch (err) {
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        status = absl::UnavailableError("accept: would block");
        break;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        status = absl::ResourceExhaustedError(absl::StrCat("accept: ", strerror(err)));
        break;
      case ECONNABORTED:
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case EPERM:
        status = absl::AbortedError(absl::StrCat("accept: ", strerror(err)));
        break;
      default:
        status = absl::InternalError(absl::StrCat("accept: ", strerror(err)));
        break;
    }
    errno = err;
    return status;
  }
  SetNoDelay(fd);
  if (peer != nullptr) {
    peer->storage = storage;
    peer->length = length;
  }
  return fd;
}

SourceKey SourceKeyOf(const SocketAddress& address) {
  SourceKey key;
  if (address.family() == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&address.storage);
    key.bytes[0] = 4;
    std::memcpy(&key.bytes[1], &a->sin_addr, 4);
  } else if (address.family() == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      key.bytes[0] = 4;
      std::memcpy(&key.bytes[1], a->sin6_addr.s6_addr + 12, 4);
    } else {
      key.bytes[0] = 6;
      std::memcpy(&key.bytes[1], a->sin6_addr.s6_addr, 8);
    }
  }
  return key;
}

absl::StatusOr<std::pair<int, int>> ConnectedTcpPair(int listen_fd) {
  absl::StatusOr<SocketAddress> address = LocalAddress(listen_fd);
  if (!address.ok()) return address.status();
  absl::StatusOr<int> client = ConnectTcp(*address);
  if (!client.ok()) return client.status();
  // The listener is non-blocking: wait for the connection to be accepted.
  pollfd p{listen_fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) {
    close(*client);
    return absl::UnavailableError("ConnectedTcpPair: nothing to accept within 5 s");
  }
  absl::StatusOr<int> server = AcceptTcp(listen_fd);
  if (!server.ok()) {
    close(*client);
    return server.status();
  }
  for (int fd : {*client, *server}) {
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  return std::make_pair(*client, *server);
}

}  // namespace alts
