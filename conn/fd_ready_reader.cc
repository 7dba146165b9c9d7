#include "conn/fd_ready_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace alts {
namespace {

// kMaxReadsPerWakeup: fairness between fds on one reactor.
constexpr int kMaxReadsPerWakeup = 8;

}  // namespace

absl::StatusOr<std::unique_ptr<FdReadyReader>> FdReadyReader::Create(event_base* base,
                                                                    WakeQueue* wake, int fd,
                                                                    BufferPool* pool) {
  if (fd < 0) return absl::InvalidArgumentError("FdReadyReader: bad fd");
  if (base == nullptr || wake == nullptr || pool == nullptr) {
    close(fd);
    return absl::InvalidArgumentError("FdReadyReader: missing base, wake queue or pool");
  }
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("FdReadyReader: fcntl: ", strerror(err)));
  }
  return std::unique_ptr<FdReadyReader>(new FdReadyReader(base, wake, fd, pool));
}

FdReadyReader::FdReadyReader(event_base* base, WakeQueue* wake, int fd, BufferPool* pool)
    : wake_(wake), pool_(pool), fd_(fd) {
  event_assign(&event_, base, fd_, EV_READ | EV_PERSIST, &FdReadyReader::OnEvent, this);
}

FdReadyReader::~FdReadyReader() {
  if (alive_ != nullptr) *alive_ = false;
  if (registered_) event_del(&event_);
  pool_->CancelWait(this);  // unconditional: waits out an in-flight wakeup
  wake_->Cancel(this);
  if (fd_ >= 0) close(fd_);
}

void FdReadyReader::Start(ReadyHandler* handler) {
  handler_ = handler;
  Update();
}

void FdReadyReader::PauseReading() {
  paused_ = true;
  Update();
}

void FdReadyReader::ResumeReading() {
  paused_ = false;
  Update();
}

void FdReadyReader::Update() {
  const bool want = handler_ != nullptr && !paused_ && !waiting_ && !ended_;
  if (want == registered_) return;
  registered_ = want;
  if (want) {
    event_add(&event_, nullptr);
  } else {
    event_del(&event_);
  }
}

void FdReadyReader::OnEvent(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<FdReadyReader*>(arg);
  bool alive = true;
  self->alive_ = &alive;
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    const bool more = self->ReadOnce(&alive);
    if (!alive) return;
    if (!more) break;
  }
  self->alive_ = nullptr;
}

void FdReadyReader::OnBufferAvailable() { wake_->Wake(this); }

void FdReadyReader::OnWake() {
  waiting_ = false;
  Update();
  bool alive = true;
  alive_ = &alive;
  if (registered_) {
    ReadOnce(&alive);  // uses the claim the wakeup carries
    if (!alive) return;
  } else {
    pool_->CancelWait(this);  // paused or ended: pass the claim on
  }
  alive_ = nullptr;
}

bool FdReadyReader::ReadOnce(bool* alive) {
  if (!registered_) return false;
  BufferLease lease = pool_->AcquireOrWait(this);
  if (!lease) {
    waiting_ = true;  // resumed through OnBufferAvailable -> OnWake
    Update();
    return false;
  }
  ssize_t n;
  do {
    n = recv(fd_, lease.data(), lease.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    End(absl::UnavailableError(absl::StrCat("read: ", strerror(errno))), alive);
    return false;
  }
  if (n == 0) {
    End(absl::OkStatus(), alive);
    return false;
  }
  const bool filled = static_cast<size_t>(n) == lease.size();
  handler_->OnData(absl::MakeSpan(lease.data(), static_cast<size_t>(n)), lease);
  return *alive && filled;
}

void FdReadyReader::End(absl::Status status, bool* alive) {
  ended_ = true;
  Update();
  handler_->OnEnd(status);
  (void)alive;
}

}  // namespace alts
