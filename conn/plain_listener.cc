#include "conn/plain_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "conn/socket_util.h"

namespace alts {
namespace {

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un sun{};
  if (path.empty() || path.size() >= sizeof(sun.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad unix socket path '", path, "'"));
  }
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path.data(), path.size());
  return sun;
}

absl::Status Errno(absl::string_view what) {
  const int err = errno;
  const std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == ECONNREFUSED || err == ENOENT || err == ENETUNREACH || err == EHOSTUNREACH ||
      err == ECONNRESET || err == EADDRINUSE) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

}  // namespace

std::optional<std::string> ParseUnixAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix://")) return std::string(address.substr(7));
  if (absl::StartsWith(address, "unix:")) return std::string(address.substr(5));
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<PlainListener>> PlainListener::Listen(
    ReactorGroup& group, const std::string& address, const ConnectionResources* resources,
    PlainAcceptCallback on_accept, int backlog) {
  if (resources == nullptr || !on_accept) {
    return absl::InvalidArgumentError("PlainListener: resources and a callback are required");
  }
  std::unique_ptr<PlainListener> l(new PlainListener(group, resources, std::move(on_accept)));
  if (std::optional<std::string> path = ParseUnixAddress(address)) {
    absl::StatusOr<sockaddr_un> sun = UnixAddress(*path);
    if (!sun.ok()) return sun.status();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Errno("socket(AF_UNIX)");
    unlink(path->c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&*sun), sizeof(*sun)) != 0 ||
        listen(fd, backlog) != 0) {
      absl::Status s = Errno(absl::StrCat("listen on unix:", *path));
      close(fd);
      return s;
    }
    l->listen_fd_ = fd;
    l->unix_path_ = *path;
    l->address_ = absl::StrCat("unix:", *path);
  } else {
    absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(address);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<int> fd = ListenTcp(*parsed, backlog);
    if (!fd.ok()) return fd.status();
    l->listen_fd_ = *fd;
    absl::StatusOr<SocketAddress> bound = LocalAddress(*fd);
    if (!bound.ok()) return bound.status();
    l->address_ = bound->ToString();
  }
  PlainListener* self = l.get();
  absl::Status status;
  (void)group.RunOnAllAndWait([&](Reactor& reactor) {
    if (reactor.index() != 0) return;
    self->accept_event_ = event_new(reactor.base(), self->listen_fd_, EV_READ | EV_PERSIST,
                                    &PlainListener::OnAcceptable, self);
    self->retry_event_ = evtimer_new(reactor.base(), &PlainListener::OnRetry, self);
    if (self->accept_event_ == nullptr || self->retry_event_ == nullptr ||
        event_add(self->accept_event_, nullptr) != 0) {
      status = absl::InternalError("PlainListener: cannot register the accept event");
    }
  });
  if (!status.ok()) return status;
  return l;
}

PlainListener::~PlainListener() { Close(); }

void PlainListener::OnAcceptable(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<PlainListener*>(arg);
  for (int i = 0; i < 64 && !self->closed_.load(); ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(self->listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      self->accept_errors_.fetch_add(1, std::memory_order_relaxed);
      if (errno == ECONNABORTED || errno == EPROTO) continue;
      // Out of descriptors or memory: the socket stays readable, so back off
      // instead of spinning; say so once.
      self->backoff_ = std::min(kPlainAcceptBackoffMax,
                                std::max(absl::Milliseconds(10), 2 * self->backoff_));
      if (!self->failure_logged_) {
        self->failure_logged_ = true;
        std::fprintf(stderr, "PlainListener %s: accept: %s; backing off\n",
                     self->address_.c_str(), strerror(errno));
      }
      event_del(self->accept_event_);
      timeval tv = absl::ToTimeval(self->backoff_);
      evtimer_add(self->retry_event_, &tv);
      return;
    }
    self->backoff_ = absl::ZeroDuration();
    self->failure_logged_ = false;
    std::string peer_address;
    if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
      SocketAddress sa;
      sa.storage = peer;
      sa.length = len;
      peer_address = sa.ToString();
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } else {
      peer_address = self->address_;
    }
    self->Hand(fd, std::move(peer_address));
  }
}

void PlainListener::OnRetry(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<PlainListener*>(arg);
  if (self->closed_.load()) return;
  event_add(self->accept_event_, nullptr);
  OnAcceptable(self->listen_fd_, EV_READ, self);
}

void PlainListener::Hand(int fd, std::string peer) {
  Reactor& target = group_.Pick(static_cast<uint64_t>(fd));
  auto hand = [this, &target, fd, peer = std::move(peer)]() mutable {
    absl::StatusOr<std::unique_ptr<SecureConnection>> conn =
        SecureConnection::CreatePlaintext(target, fd, resources_);
    if (!conn.ok()) return;  // Create closed the fd
    on_accept_(target, PlainAccepted{std::move(*conn), std::move(peer)});
  };
  if (target.InReactorThread()) {
    hand();
  } else if (!target.Post(std::move(hand))) {
    close(fd);  // shutting down
  }
}

void PlainListener::Close() {
  if (closed_.exchange(true)) return;
  (void)group_.RunOnAllAndWait([this](Reactor& reactor) {
    if (reactor.index() != 0) return;
    if (accept_event_ != nullptr) event_free(accept_event_);
    if (retry_event_ != nullptr) event_free(retry_event_);
    accept_event_ = retry_event_ = nullptr;
  });
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

// --------------------------------------------------------------------------

std::unique_ptr<PlainConnector> PlainConnector::Start(Reactor& reactor, const std::string& address,
                                                      const ConnectionResources* resources,
                                                      absl::Duration timeout, Callback done) {
  std::unique_ptr<PlainConnector> c(new PlainConnector(reactor, resources, std::move(done)));
  absl::Status error;
  if (std::optional<std::string> path = ParseUnixAddress(address)) {
    absl::StatusOr<sockaddr_un> sun = UnixAddress(*path);
    if (!sun.ok()) {
      error = sun.status();
    } else {
      c->fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c->fd_ < 0) {
        error = Errno("socket(AF_UNIX)");
      } else if (connect(c->fd_, reinterpret_cast<sockaddr*>(&*sun), sizeof(*sun)) != 0 &&
                 errno != EINPROGRESS && errno != EAGAIN) {
        error = Errno(absl::StrCat("connect to ", address));
      }
    }
  } else {
    absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(address);
    if (!parsed.ok()) {
      error = parsed.status();
    } else {
      absl::StatusOr<int> fd = ConnectTcp(*parsed);
      if (!fd.ok()) {
        error = fd.status();
      } else {
        c->fd_ = *fd;
      }
    }
  }
  PlainConnector* self = c.get();
  if (error.ok()) {
    absl::StatusOr<std::unique_ptr<ReactorEvent>> ev = ReactorEvent::Create(
        reactor, c->fd_, EV_WRITE, [self](short what) { self->OnEvent(what); });
    if (!ev.ok()) {
      error = ev.status();
    } else {
      c->event_ = std::move(*ev);
      error = c->event_->Add(timeout);
    }
  }
  if (!error.ok()) {
    // Report from a later loop turn, so the caller holds the connector first.
    absl::StatusOr<std::unique_ptr<ReactorEvent>> kick = ReactorEvent::CreateTimer(
        reactor, [self, error](short) { self->Finish(error); });
    if (kick.ok()) {
      c->kick_ = std::move(*kick);
      (void)c->kick_->Add(absl::ZeroDuration());
    }
  }
  return c;
}

PlainConnector::~PlainConnector() {
  event_.reset();
  kick_.reset();
  if (fd_ >= 0) close(fd_);
}

void PlainConnector::OnEvent(short what) {
  if (what & EV_TIMEOUT) {
    Finish(absl::DeadlineExceededError("connect timed out"));
    return;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    errno = err;
    Finish(Errno("connect"));
    return;
  }
  const int fd = std::exchange(fd_, -1);
  event_.reset();  // the connection registers its own event on the fd
  Finish(SecureConnection::CreatePlaintext(reactor_, fd, resources_));
}

void PlainConnector::Finish(absl::StatusOr<std::unique_ptr<SecureConnection>> result) {
  if (!done_) return;
  Callback done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));  // may destroy this
}

}  // namespace alts
