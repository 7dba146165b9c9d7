#include "conn/handshake_set.h"

#include <unistd.h>

#include <utility>

namespace alts {

HandshakeSet::HandshakeSet(ReactorGroup& group) : group_(group), drivers_(group.size()) {}

void HandshakeSet::Start(Reactor& reactor, int fd, Side side,
                         std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
                         const ConnectionResources* resources, HandshakeLimiter* limiter,
                         HandshakeOutcomeCallback done) {
  if (closed()) close(fd);
  Track(reactor, std::move(done), [&](HandshakeCallback cb) {
    return HandshakeDriver::Create(reactor, fd, side, std::move(config), std::move(params),
                                   resources, limiter, std::move(cb));
  });
}

void HandshakeSet::StartDial(Reactor& reactor, const SocketAddress& address,
                             std::shared_ptr<const HandshakerConfig> config,
                             HandshakeParams params, const ConnectionResources* resources,
                             HandshakeLimiter* limiter, HandshakeOutcomeCallback done) {
  Track(reactor, std::move(done), [&](HandshakeCallback cb) {
    return HandshakeDriver::CreateDialing(reactor, address, std::move(config), std::move(params),
                                          resources, limiter, std::move(cb));
  });
}

void HandshakeSet::Refuse(Reactor& reactor, absl::Status reason,
                          const HandshakeOutcomeCallback& done) {
  started_.fetch_add(1, std::memory_order_relaxed);
  failed_.fetch_add(1, std::memory_order_relaxed);
  done(reactor, std::move(reason));
}

void HandshakeSet::Track(
    Reactor& reactor, HandshakeOutcomeCallback done,
    absl::FunctionRef<absl::StatusOr<std::unique_ptr<HandshakeDriver>>(HandshakeCallback)>
        create) {
  started_.fetch_add(1, std::memory_order_relaxed);
  if (closed()) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    done(reactor, absl::CancelledError("closed before the handshake started"));
    return;
  }
  // The driver pointer is only known after Create; the callback reads it
  // from this cell (set before any callback can run: callbacks come from
  // the reactor's dispatch, never from inside Create).
  auto cell = std::make_shared<HandshakeDriver*>(nullptr);
  absl::StatusOr<std::unique_ptr<HandshakeDriver>> driver =
      create([this, &reactor, cell, done](absl::StatusOr<EstablishedConnection> outcome) {
        Deliver(reactor, *cell, done, std::move(outcome));
      });
  if (!driver.ok()) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    done(reactor, driver.status());
    return;
  }
  *cell = driver->get();
  drivers_[reactor.index()].emplace(driver->get(), std::move(*driver));
}

void HandshakeSet::Deliver(Reactor& reactor, HandshakeDriver* driver,
                           const HandshakeOutcomeCallback& done,
                           absl::StatusOr<EstablishedConnection> outcome) {
  (outcome.ok() ? succeeded_ : failed_).fetch_add(1, std::memory_order_relaxed);
  done(reactor, std::move(outcome));
  // Destroying the driver inside its own callback is allowed.
  drivers_[reactor.index()].erase(driver);
}

void HandshakeSet::Close() {
  closed_.store(true, std::memory_order_release);
  (void)group_.RunOnAllAndWait([this](Reactor& reactor) {
    auto drivers = std::move(drivers_[reactor.index()]);
    drivers_[reactor.index()].clear();
    for (auto& [ptr, driver] : drivers) {
      driver->Abort(absl::CancelledError("handshake cancelled: closing"));
    }
  });
}

HandshakeStats HandshakeSet::stats() const {
  HandshakeStats s;
  s.started = started_.load(std::memory_order_relaxed);
  s.succeeded = succeeded_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.in_progress = s.started - s.succeeded - s.failed;
  return s;
}

}  // namespace alts
