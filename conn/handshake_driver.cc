#include "conn/handshake_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace alts {

absl::StatusOr<std::unique_ptr<HandshakeDriver>> HandshakeDriver::Create(
    Reactor& reactor, int fd, Side side, std::shared_ptr<const HandshakerConfig> config,
    HandshakeParams params, const ConnectionResources* resources, HandshakeLimiter* limiter,
    HandshakeCallback done) {
  if (fd < 0) return absl::InvalidArgumentError("HandshakeDriver: bad fd");
  return CreateImpl(reactor, fd, nullptr, side, std::move(config), std::move(params), resources,
                    limiter, std::move(done));
}

absl::StatusOr<std::unique_ptr<HandshakeDriver>> HandshakeDriver::CreateDialing(
    Reactor& reactor, const SocketAddress& address,
    std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
    const ConnectionResources* resources, HandshakeLimiter* limiter, HandshakeCallback done) {
  return CreateImpl(reactor, -1, &address, Side::kClient, std::move(config), std::move(params),
                    resources, limiter, std::move(done));
}

absl::StatusOr<std::unique_ptr<HandshakeDriver>> HandshakeDriver::CreateImpl(
    Reactor& reactor, int fd, const SocketAddress* connect_to, Side side,
    std::shared_ptr<const HandshakerConfig> config, HandshakeParams params,
    const ConnectionResources* resources, HandshakeLimiter* limiter, HandshakeCallback done) {
  auto fail = [fd](absl::Status s) {
    if (fd >= 0) close(fd);
    return s;
  };
  if (resources == nullptr || resources->read_pool == nullptr || resources->storage == nullptr ||
      config == nullptr) {
    return fail(absl::InvalidArgumentError("HandshakeDriver: missing resources or config"));
  }
  const absl::Duration deadline = config->deadline;
  absl::StatusOr<std::unique_ptr<Handshaker>> handshaker =
      Handshaker::Create(side, std::move(config), std::move(params));
  if (!handshaker.ok()) return fail(handshaker.status());
  if (fd >= 0) {
    const int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      return fail(absl::InternalError(absl::StrCat("HandshakeDriver: fcntl: ", strerror(errno))));
    }
  }
  std::unique_ptr<HandshakeDriver> driver(new HandshakeDriver(
      reactor, fd, std::move(*handshaker), resources, limiter, std::move(done), deadline));
  if (connect_to != nullptr) {
    driver->needs_connect_ = true;
    driver->connect_to_ = *connect_to;
  }
  if (limiter != nullptr && side == Side::kServer && connect_to == nullptr) {
    // The slot is taken once the client has sent something.
    driver->state_ = State::kAwaitingFirstBytes;
  } else if (limiter != nullptr) {
    absl::StatusOr<HandshakeLimiter::Slot> slot = limiter->AcquireOrQueue(driver.get());
    if (!slot.ok()) return slot.status();  // queue full: the driver closes fd
    driver->slot_ = std::move(*slot);
    driver->queued_in_limiter_ = !driver->slot_.held();
  }
  // Start from the reactor's dispatch, so the callback never runs inside
  // Create; a queued driver only arms its deadline until a slot arrives.
  if (driver->state_ == State::kQueued && (limiter == nullptr || driver->slot_.held())) {
    reactor.wake_queue().Wake(driver.get());
  }
  driver->UpdateInterest();
  return driver;
}

bool HandshakeDriver::StartConnect() {
  needs_connect_ = false;
  absl::StatusOr<int> fd = ConnectTcp(connect_to_);
  if (!fd.ok()) {
    Finish(fd.status());
    return false;
  }
  fd_ = *fd;
  connecting_ = true;
  return true;
}

HandshakeDriver::HandshakeDriver(Reactor& reactor, int fd, std::unique_ptr<Handshaker> handshaker,
                                 const ConnectionResources* resources, HandshakeLimiter* limiter,
                                 HandshakeCallback done, absl::Duration deadline)
    : reactor_(reactor),
      fd_(fd),
      handshaker_(std::move(handshaker)),
      resources_(resources),
      limiter_(limiter),
      done_(std::move(done)),
      deadline_(absl::Now() + deadline) {
  event_assign(&event_, reactor_.base(), fd_, 0, &HandshakeDriver::OnEvent, this);
}

HandshakeDriver::~HandshakeDriver() {
  if (alive_ != nullptr) *alive_ = false;
  if (registered_ != 0) event_del(&event_);
  resources_->read_pool->CancelWait(this);  // also waits out an in-flight wakeup
  LeaveLimiterQueue();
  reactor_.wake_queue().Cancel(this);
  {
    std::lock_guard<std::mutex> lock(grant_mu_);
    granted_.Release();
  }
  slot_.Release();
  if (fd_ >= 0) close(fd_);
}

void HandshakeDriver::LeaveLimiterQueue() {
  if (!queued_in_limiter_) return;
  queued_in_limiter_ = false;
  if (limiter_->Cancel(this)) return;
  // A slot is being granted on another thread: wait for it to land so
  // OnSlotGranted never touches a dead object; it is released with us.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(grant_mu_);
      if (slot_pending_) return;
    }
    std::this_thread::yield();
  }
}

void HandshakeDriver::OnSlotGranted(HandshakeLimiter::Slot slot) {
  {
    std::lock_guard<std::mutex> lock(grant_mu_);
    granted_ = std::move(slot);
    slot_pending_ = true;
  }
  reactor_.wake_queue().Wake(this);
}

void HandshakeDriver::OnBufferAvailable() { reactor_.wake_queue().Wake(this); }

void HandshakeDriver::OnWake() {
  bool alive = true;
  alive_ = &alive;
  {
    std::lock_guard<std::mutex> lock(grant_mu_);
    if (slot_pending_ && !slot_.held()) {
      slot_ = std::move(granted_);
      queued_in_limiter_ = false;
    }
  }
  if (!finished_ && state_ == State::kQueued && (limiter_ == nullptr || slot_.held())) {
    if (needs_connect_) {
      if (!StartConnect()) return;  // Finish ran (and may have destroyed us)
    } else if (!connecting_) {
      Begin();
      if (!alive) return;
    }
  }
  if (!finished_ && waiting_for_buffer_) {
    waiting_for_buffer_ = false;
    if (state_ == State::kRunning) {
      HandleReadable();  // uses the claim the wakeup carries
      if (!alive) return;
    } else {
      resources_->read_pool->CancelWait(this);  // pass the claim on
    }
  }
  UpdateInterest();
  alive_ = nullptr;
}

void HandshakeDriver::Begin() {
  state_ = State::kRunning;
  if (handshaker_->side() == Side::kClient) {
    if (absl::Status s = handshaker_->Start(&out_); !s.ok()) {
      Finish(s);
      return;
    }
    Flush();
  }
}

void HandshakeDriver::OnEvent(evutil_socket_t, short what, void* arg) {
  auto* self = static_cast<HandshakeDriver*>(arg);
  bool alive = true;
  self->alive_ = &alive;
  self->registered_ = 0;  // not persistent: it fired, so it is no longer pending
  if (what & EV_TIMEOUT) {
    self->Finish(absl::DeadlineExceededError("handshake did not complete before its deadline"));
    return;
  }
  if ((what & EV_WRITE) && self->connecting_) {
    self->connecting_ = false;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      self->Finish(absl::UnavailableError(absl::StrCat("connect failed: ", strerror(err))));
      return;
    }
    self->Begin();  // a dial connects only once it holds its slot
    if (!alive) return;
    what &= ~EV_WRITE;
  }
  if (what & EV_WRITE) {
    if (!self->Flush()) return;
    if (self->state_ == State::kFlushingLast && self->out_sent_ == self->out_.size()) {
      const std::string leftover = std::move(self->leftover_);
      self->Complete(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(leftover.data()),
                                         leftover.size()));
      return;
    }
  }
  if ((what & EV_READ) && self->state_ == State::kAwaitingFirstBytes) {
    self->HandleFirstBytes();
    if (!alive) return;
  } else if ((what & EV_READ) && self->state_ == State::kRunning) {
    self->HandleReadable();
    if (!alive) return;
  }
  self->UpdateInterest();
  self->alive_ = nullptr;
}

void HandshakeDriver::HandleFirstBytes() {
  // Peek one byte into the stack: no pool buffer, nothing consumed.
  uint8_t byte;
  if (Receive(absl::MakeSpan(&byte, 1), MSG_PEEK,
              "peer closed the connection before sending anything") <= 0) {
    return;  // nothing yet, or Finish ran
  }
  state_ = State::kQueued;
  if (!TakeSlot()) return;  // queued (resumed in OnWake) or refused
  Begin();
  HandleReadable();
}

ssize_t HandshakeDriver::Receive(absl::Span<uint8_t> into, int flags,
                                 absl::string_view closed_message) {
  ssize_t n;
  do {
    n = recv(fd_, into.data(), into.size(), flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    Finish(absl::UnavailableError(absl::StrCat("handshake read failed: ", strerror(errno))));
    return -1;
  }
  if (n == 0) {
    Finish(absl::UnavailableError(closed_message));
    return -1;
  }
  return n;
}

bool HandshakeDriver::TakeSlot() {
  absl::StatusOr<HandshakeLimiter::Slot> slot = limiter_->AcquireOrQueue(this);
  if (!slot.ok()) {
    Finish(slot.status());  // queue full: kResourceExhausted
    return false;
  }
  slot_ = std::move(*slot);
  queued_in_limiter_ = !slot_.held();
  return slot_.held();
}

void HandshakeDriver::HandleReadable() {
  if (finished_ || state_ != State::kRunning) return;
  BufferLease lease = resources_->read_pool->AcquireOrWait(this);
  if (!lease) {
    waiting_for_buffer_ = true;  // resumed through OnBufferAvailable -> OnWake
    return;
  }
  const ssize_t n = Receive(absl::MakeSpan(lease.data(), lease.size()), 0,
                            "peer closed the connection during the handshake");
  if (n <= 0) return;  // nothing yet, or Finish ran
  const absl::Span<const uint8_t> in(lease.data(), static_cast<size_t>(n));
  absl::StatusOr<size_t> consumed = handshaker_->Step(in, &out_);
  if (!consumed.ok()) {
    // Best effort: the handshaker may have produced bytes telling the peer.
    if (out_sent_ < out_.size()) {
      (void)send(fd_, out_.data() + out_sent_, out_.size() - out_sent_,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    Finish(consumed.status());
    return;
  }
  if (!Flush()) return;
  if (!handshaker_->done()) return;
  // Whatever followed the last handshake message is record data.
  const absl::Span<const uint8_t> leftover = in.subspan(*consumed);
  if (out_sent_ < out_.size()) {
    leftover_.assign(leftover.begin(), leftover.end());
    state_ = State::kFlushingLast;  // Complete once the last flight is out
    return;
  }
  Complete(leftover);
}

bool HandshakeDriver::Flush() {
  while (out_sent_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      Finish(absl::UnavailableError(absl::StrCat("handshake write failed: ", strerror(errno))));
      return false;
    }
    out_sent_ += static_cast<size_t>(n);
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  } else if (out_.size() - out_sent_ > kMaxHandshakeOutput) {
    Finish(absl::ResourceExhaustedError("peer does not read the handshake"));
    return false;
  }
  return true;
}

void HandshakeDriver::UpdateInterest() {
  if (finished_) return;
  short want = 0;
  if ((state_ == State::kRunning && !waiting_for_buffer_) ||
      state_ == State::kAwaitingFirstBytes) {
    want |= EV_READ;
  }
  if (out_sent_ < out_.size() || connecting_) want |= EV_WRITE;
  if (registered_ != 0) event_del(&event_);
  // Before a dial connects there is no fd yet: the event is a pure timer.
  event_assign(&event_, reactor_.base(), fd_, fd_ >= 0 ? want : 0, &HandshakeDriver::OnEvent,
               this);
  // Not persistent, so the timeout counts down to the deadline instead of
  // restarting on every read.
  const absl::Duration left = std::max(deadline_ - absl::Now(), absl::ZeroDuration());
  timeval tv = absl::ToTimeval(left);
  event_add(&event_, &tv);
  registered_ = static_cast<short>(want | EV_TIMEOUT);
}

void HandshakeDriver::Complete(absl::Span<const uint8_t> leftover) {
  const HandshakeResult& result = handshaker_->result();
  absl::StatusOr<RecordProtector> protector = MakeRecordProtector(result);
  if (!protector.ok()) {
    Finish(protector.status());
    return;
  }
  EstablishedConnection established;
  established.peer = InternPeerIdentity(result, handshaker_->config().peer_identities.get());
  established.resumed = result.resumed;
  established.peer_address = PeerAddress();
  if (registered_ != 0) event_del(&event_);
  registered_ = 0;
  const int fd = fd_;
  fd_ = -1;  // the connection owns it now
  absl::StatusOr<std::unique_ptr<SecureConnection>> conn =
      SecureConnection::Create(reactor_, fd, std::move(*protector), resources_, leftover);
  if (!conn.ok()) {
    Finish(conn.status());
    return;
  }
  established.connection = std::move(*conn);
  Finish(std::move(established));
}

std::string PeerAddressOf(const absl::Status& status) {
  auto peer = status.GetPayload(kPeerAddressPayload);  // absl::optional here
  return peer.has_value() ? std::string(*peer) : std::string();
}

std::string HandshakeDriver::PeerAddress() const {
  if (fd_ >= 0) {
    SocketAddress peer;
    peer.length = sizeof(peer.storage);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length) == 0 &&
        (peer.family() == AF_INET || peer.family() == AF_INET6)) {
      return peer.ToString();
    }
  }
  if (connect_to_.length != 0) return connect_to_.ToString();
  return "";
}

void HandshakeDriver::Finish(absl::StatusOr<EstablishedConnection> outcome) {
  if (finished_) return;
  if (!outcome.ok()) {
    // Say who failed (a server logs it; the fd is gone afterwards) without
    // touching the message.
    const std::string peer = PeerAddress();
    if (!peer.empty()) {
      absl::Status status = outcome.status();
      status.SetPayload(kPeerAddressPayload, absl::Cord(peer));
      outcome = std::move(status);
    }
  }
  finished_ = true;
  state_ = State::kDone;
  if (registered_ != 0) event_del(&event_);
  registered_ = 0;
  if (waiting_for_buffer_) {
    resources_->read_pool->CancelWait(this);
    waiting_for_buffer_ = false;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  handshaker_.reset();  // wipes the handshake's secrets
  LeaveLimiterQueue();
  {
    std::lock_guard<std::mutex> lock(grant_mu_);
    granted_.Release();
  }
  slot_.Release();  // admits the next queued handshake
  out_.clear();
  out_.shrink_to_fit();
  leftover_.clear();
  HandshakeCallback done = std::move(done_);
  if (done) done(std::move(outcome));  // may destroy this
}

void HandshakeDriver::Abort(absl::Status reason) {
  if (reason.ok()) reason = absl::CancelledError("handshake aborted");
  Finish(std::move(reason));
}

}  // namespace alts
