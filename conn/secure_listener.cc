#include "conn/secure_listener.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/cord.h"

#include "absl/strings/str_cat.h"

namespace alts {
namespace {

HandshakeLimiter* LimiterOrGlobal(HandshakeLimiter* limiter) {
  return limiter != nullptr ? limiter : &HandshakeLimiter::Global();
}

// ServerLimiter caps accepted handshakes, apart from the dialing cap
// (HandshakeLimiter::Global): if both sides of a process shared one cap,
// its own outgoing handshakes could hold every slot while the incoming
// halves they wait for queue behind them.
HandshakeLimiter* ServerLimiterOr(HandshakeLimiter* limiter) {
  if (limiter != nullptr) return limiter;
  static HandshakeLimiter* const server =
      new HandshakeLimiter(HandshakeLimiter::MaxConcurrentFromEnvironment());
  return server;
}

}  // namespace

// --------------------------------------------------------------------------
// SecureListener

SecureListener::SecureListener(ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config,
                               ListenOptions options, HandshakeOutcomeCallback on_outcome)
    : group_(group),
      config_(std::move(config)),
      options_(std::move(options)),
      handshakes_(group),
      on_outcome_(std::move(on_outcome)),
      per_source_(options_.max_handshakes_per_source) {}

absl::StatusOr<std::unique_ptr<SecureListener>> SecureListener::Listen(
    ReactorGroup& group, const std::string& address,
    std::shared_ptr<const HandshakerConfig> config, ListenOptions options,
    HandshakeOutcomeCallback on_outcome) {
  if (config == nullptr || options.resources == nullptr || !on_outcome) {
    return absl::InvalidArgumentError("Listen: config, resources and a callback are required");
  }
  absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> fd = ListenTcp(*parsed, options.backlog);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<SecureListener> listener(
      new SecureListener(group, std::move(config), std::move(options), std::move(on_outcome)));
  listener->listen_fd_ = *fd;
  absl::StatusOr<SocketAddress> bound = LocalAddress(*fd);
  if (!bound.ok()) return bound.status();
  listener->address_ = *bound;
  // The accept event lives on reactor 0.
  SecureListener* self = listener.get();
  absl::Status status = absl::OkStatus();
  (void)group.RunOnAllAndWait([&](Reactor& reactor) {
    if (reactor.index() != 0) return;
    self->accept_event_ = event_new(reactor.base(), self->listen_fd_, EV_READ | EV_PERSIST,
                                    &SecureListener::OnAcceptable, self);
    self->retry_event_ = evtimer_new(reactor.base(), &SecureListener::OnAcceptRetry, self);
    if (self->accept_event_ == nullptr || self->retry_event_ == nullptr ||
        event_add(self->accept_event_, nullptr) != 0) {
      status = absl::InternalError("Listen: cannot register the accept event");
    }
  });
  if (!status.ok()) return status;
  return listener;
}

SecureListener::~SecureListener() { Close(); }

void SecureListener::OnAcceptable(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<SecureListener*>(arg);
  for (int i = 0; i < kMaxAcceptsPerWakeup && !self->closed_.load(); ++i) {
    SocketAddress peer;
    absl::StatusOr<int> fd = AcceptTcp(self->listen_fd_, &peer);
    if (!fd.ok()) {
      const absl::StatusCode code = fd.status().code();
      if (code == absl::StatusCode::kUnavailable) return;  // none pending
      self->accept_errors_.fetch_add(1, std::memory_order_relaxed);
      if (code == absl::StatusCode::kAborted) continue;  // that one died: take the next
      // Out of descriptors or memory (or a broken socket): the listening
      // socket stays readable, so retrying now would spin.
      self->PauseAccepting(fd.status());
      return;
    }
    self->accept_backoff_ = absl::ZeroDuration();
    self->accept_failure_logged_ = false;
    self->StartHandshake(*fd, peer);
  }
}

void SecureListener::PauseAccepting(const absl::Status& why) {
  accept_backoff_ = accept_backoff_ == absl::ZeroDuration()
                        ? kMinAcceptBackoff
                        : std::min(2 * accept_backoff_, kMaxAcceptBackoff);
  accept_pauses_.fetch_add(1, std::memory_order_relaxed);
  if (!accept_failure_logged_) {
    accept_failure_logged_ = true;
    std::fprintf(stderr, "SecureListener %s: %s; pausing accepts (backing off up to %s)\n",
                 address_.ToString().c_str(), std::string(why.message()).c_str(),
                 absl::FormatDuration(kMaxAcceptBackoff).c_str());
  }
  event_del(accept_event_);
  timeval tv = absl::ToTimeval(accept_backoff_);
  evtimer_add(retry_event_, &tv);
}

void SecureListener::OnAcceptRetry(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<SecureListener*>(arg);
  if (self->closed_.load()) return;
  event_add(self->accept_event_, nullptr);
  OnAcceptable(self->listen_fd_, EV_READ, self);
}

void SecureListener::StartHandshake(int fd, const SocketAddress& peer) {
  Reactor& target = group_.Pick(static_cast<uint64_t>(fd));
  const SourceKey source = SourceKeyOf(peer);
  if (!per_source_.TryAdd(source)) {
    close(fd);
    absl::Status refused = absl::ResourceExhaustedError(
        "too many handshakes in progress from this source");
    refused.SetPayload(kPeerAddressPayload, absl::Cord(peer.ToString()));
    auto refuse = [this, &target, refused = std::move(refused)] {
      handshakes_.Refuse(target, refused, on_outcome_);
    };
    if (target.InReactorThread()) {
      refuse();
    } else {
      (void)target.Post(std::move(refuse));
    }
    return;
  }
  // The source's count drops when the outcome is delivered, before the
  // caller's callback sees it.
  HandshakeOutcomeCallback done = [this, source](Reactor& r,
                                                 absl::StatusOr<EstablishedConnection> outcome) {
    per_source_.Remove(source);
    on_outcome_(r, std::move(outcome));
  };
  auto start = [this, &target, fd, done = std::move(done)]() mutable {
    handshakes_.Start(target, fd, Side::kServer, config_, options_.params, options_.resources,
                      ServerLimiterOr(options_.limiter), std::move(done));
  };
  if (target.InReactorThread()) {
    start();
  } else if (!target.Post(std::move(start))) {
    close(fd);  // the group is shutting down
    per_source_.Remove(source);
  }
}

void SecureListener::Close() {
  if (closed_.exchange(true)) return;
  // Round 1: stop accepting. Accepts already made have posted their
  // handshakes before this task ran on reactor 0, so round 2 (FIFO per
  // reactor) sees them all.
  (void)group_.RunOnAllAndWait([this](Reactor& reactor) {
    if (reactor.index() != 0) return;
    if (accept_event_ != nullptr) event_free(accept_event_);
    accept_event_ = nullptr;
    if (retry_event_ != nullptr) event_free(retry_event_);
    retry_event_ = nullptr;
  });
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  handshakes_.Close();
}

// --------------------------------------------------------------------------
// SecureDialer

SecureDialer::SecureDialer(ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config,
                           DialerOptions options)
    : group_(group), config_(std::move(config)), options_(options), handshakes_(group) {}

absl::StatusOr<std::unique_ptr<SecureDialer>> SecureDialer::Create(
    ReactorGroup& group, std::shared_ptr<const HandshakerConfig> config, DialerOptions options) {
  if (config == nullptr || options.resources == nullptr) {
    return absl::InvalidArgumentError("SecureDialer: config and resources are required");
  }
  return std::unique_ptr<SecureDialer>(new SecureDialer(group, std::move(config), options));
}

SecureDialer::~SecureDialer() { Close(); }

void SecureDialer::Dial(const std::string& address, HandshakeParams params,
                        HandshakeOutcomeCallback done, uint64_t key) {
  Reactor& reactor = group_.Pick(key);
  auto start = [this, &reactor, address, params = std::move(params),
                done = std::move(done)]() mutable {
    absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(address);
    if (!parsed.ok()) {
      done(reactor, parsed.status());
      return;
    }
    handshakes_.StartDial(reactor, *parsed, config_, std::move(params), options_.resources,
                          LimiterOrGlobal(options_.limiter), std::move(done));
  };
  if (reactor.InReactorThread()) {
    start();
  } else if (!reactor.Post(std::move(start))) {
    // The group is shutting down: Post destroyed the task, and with it the
    // callback, unrun.
  }
}

void SecureDialer::Close() { handshakes_.Close(); }

}  // namespace alts
