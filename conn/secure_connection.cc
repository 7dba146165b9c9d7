#include "conn/secure_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conn/frame_opener.h"
#include "conn/seal_sizing.h"

namespace alts {
namespace {

// kMaxIovecs: chunks handed to one sendmsg; with 32 KiB buffers this is far
// above what a socket takes in one call.
constexpr int kMaxIovecs = 16;

absl::Status ErrnoStatus(absl::string_view what, int err) {
  if (err == ECONNRESET || err == EPIPE || err == ENOTCONN) {
    return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
  }
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

}  // namespace

// WriteChunk lives at the front of the leased buffer whose unsent ciphertext
// it describes, so queued output costs no allocation beyond the buffer.
struct SecureConnection::WriteChunk {
  BufferLease lease;  // owns the buffer this chunk lives in
  WriteChunk* next = nullptr;
  uint32_t begin = 0;  // first unsent byte, as an offset into the buffer
  uint32_t end = 0;    // end of the sealed bytes
};

namespace {
// kChunkHeaderSize: where ciphertext starts in a write buffer (cache-line
// aligned, past the WriteChunk).
constexpr uint32_t kChunkHeaderSize = 64;
}  // namespace

absl::StatusOr<std::unique_ptr<SecureConnection>> SecureConnection::Create(
    event_base* base, WakeQueue* wake, int fd, RecordProtector protector,
    const ConnectionResources* resources, absl::Span<const uint8_t> initial_bytes) {
  return CreateImpl(base, wake, fd, std::move(protector), resources, initial_bytes);
}

absl::StatusOr<std::unique_ptr<SecureConnection>> SecureConnection::CreatePlaintext(
    event_base* base, WakeQueue* wake, int fd, const ConnectionResources* resources,
    absl::Span<const uint8_t> initial_bytes) {
  return CreateImpl(base, wake, fd, std::nullopt, resources, initial_bytes);
}

absl::StatusOr<std::unique_ptr<SecureConnection>> SecureConnection::CreateImpl(
    event_base* base, WakeQueue* wake, int fd, std::optional<RecordProtector> protector,
    const ConnectionResources* resources, absl::Span<const uint8_t> initial_bytes) {
  static_assert(sizeof(WriteChunk) <= kChunkHeaderSize);
  if (fd < 0) return absl::InvalidArgumentError("SecureConnection: bad fd");
  if (base == nullptr || wake == nullptr || resources == nullptr ||
      resources->read_pool == nullptr || resources->storage == nullptr) {
    close(fd);
    return absl::InvalidArgumentError("SecureConnection: missing base, wake queue or pools");
  }
  if (resources->read_pool->stats().max_buffers != 0 &&
      (resources->write_pool == nullptr || resources->write_pool == resources->read_pool)) {
    close(fd);
    return absl::InvalidArgumentError(
        "SecureConnection: a read pool with a budget needs a separate write pool "
        "(ConnectionResources::write_pool): pending output must not hold the buffers readers "
        "need to let it drain");
  }
  if (resources->write_pool != nullptr &&
      resources->write_pool->buffer_size() < kChunkHeaderSize + kMinFrameSize + 1) {
    close(fd);
    return absl::InvalidArgumentError("SecureConnection: write buffers are too small");
  }
  if (resources->read_pool->buffer_size() < kChunkHeaderSize + kMinFrameSize + 1) {
    close(fd);
    return absl::InvalidArgumentError("SecureConnection: read buffers are too small");
  }
  if (initial_bytes.size() > kMaxInitialBytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("SecureConnection: ", initial_bytes.size(),
                     " bytes behind the handshake exceed the limit of ", kMaxInitialBytes));
  }
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    absl::Status s = ErrnoStatus("SecureConnection: fcntl(O_NONBLOCK)", errno);
    close(fd);
    return s;
  }
  std::unique_ptr<SecureConnection> conn(
      new SecureConnection(base, wake, fd, std::move(protector), resources));
  conn->open_into_second_buffer_ = conn->protector_.has_value() &&
                                   resources->options.read_policy == ReadBufferPolicy::kOnDemand &&
                                   resources->read_pool->stats().max_buffers == 0;
  if (resources->options.read_policy == ReadBufferPolicy::kPinned) {
    conn->pinned_ = resources->read_pool->TryAcquire();
    if (!conn->pinned_) {
      return absl::ResourceExhaustedError(
          "SecureConnection: read pool budget exhausted (pinned buffer)");
    }
  }
  if (!initial_bytes.empty()) {
    conn->partial_ = resources->storage->Acquire(initial_bytes.size());
    if (!conn->partial_) {
      return absl::ResourceExhaustedError("SecureConnection: no storage for handshake leftovers");
    }
    memcpy(conn->partial_.data(), initial_bytes.data(), initial_bytes.size());
    conn->partial_held_ = static_cast<uint32_t>(initial_bytes.size());
    conn->unprocessed_input_ = true;
  }
  return conn;
}

SecureConnection::SecureConnection(event_base* base, WakeQueue* wake, int fd,
                                   std::optional<RecordProtector> protector,
                                   const ConnectionResources* resources)
    : resources_(resources), wake_(wake), protector_(std::move(protector)), fd_(fd) {
  // Bind the embedded event to the base now; interest is set by UpdateInterest.
  event_assign(&event_, base, fd_, 0, &SecureConnection::OnEvent, this);
}

SecureConnection::~SecureConnection() {
  if (alive_ != nullptr) *alive_ = false;
  if (registered_events_ != 0) event_del(&event_);
  registered_events_ = 0;
  // Unconditional: also waits out a wakeup running on another thread.
  resources_->read_pool->CancelWait(this);
  write_pool()->CancelWait(&write_waiter_);
  wake_->Cancel(this);
  CloseFd();
  ReleaseBuffers();
}

size_t SecureConnection::WritableIn(size_t room) const {
  return protector_.has_value() ? PlaintextFitting(*protector_, room) : room;
}

size_t SecureConnection::read_buffer_size() const {
  return resources_->read_pool->buffer_size();
}

void SecureConnection::Start(ReadyHandler* handler) {
  if (started_) return;
  started_ = true;
  handler_ = handler;
  if (!status_.ok()) {
    wake_->Wake(this);  // report the error from a top-level dispatch
    return;
  }
  if (unprocessed_input_) {
    // Handshake leftovers: process them before anything is read. Deliveries
    // happen from a top-level dispatch so the handler may destroy us.
    wake_->Wake(this);
  }
  UpdateInterest();
}

void SecureConnection::PauseReading() {
  paused_ = true;
  UpdateInterest();
}

void SecureConnection::ResumeReading() {
  if (!paused_) return;
  paused_ = false;
  UpdateInterest();
  // Handshake leftovers may still wait to be processed.
  if (unprocessed_input_) wake_->Wake(this);
}

size_t SecureConnection::HeapBytes() const {
  size_t bytes = sizeof(*this);
  if (partial_) bytes += partial_.size();
  if (pinned_) bytes += pinned_.size();
  for (const WriteChunk* c = write_head_; c != nullptr; c = c->next) bytes += c->lease.size();
  return bytes;
}

size_t SecureConnection::LeasedBuffers() const {
  size_t n = pinned_ ? 1 : 0;
  for (const WriteChunk* c = write_head_; c != nullptr; c = c->next) ++n;
  return n;
}

bool SecureConnection::WantRead() const {
  return started_ && handler_ != nullptr && !paused_ && !waiting_for_read_buffer_ &&
         !unprocessed_input_ && !read_ended_ && status_.ok() && fd_ >= 0;
}

void SecureConnection::UpdateInterest() {
  short want = 0;
  if (fd_ >= 0 && status_.ok()) {
    if (WantRead()) want |= EV_READ;
    if (write_head_ != nullptr) want |= EV_WRITE;
  }
  // The timer: the partial frame's deadline while one is incomplete
  // (absolute, so trickled bytes do not extend it), else the idle timeout
  // (which the persistent event restarts on every activity).
  const ConnectionOptions& options = resources_->options;
  if (partial_held_ == 0) {
    partial_deadline_ = absl::InfiniteFuture();
  } else if (partial_deadline_ == absl::InfiniteFuture() &&
             options.partial_frame_timeout != absl::InfiniteDuration()) {
    partial_deadline_ = absl::Now() + options.partial_frame_timeout;
  }
  absl::Time deadline = want != 0 ? partial_deadline_ : absl::InfiniteFuture();
  const bool idle = want != 0 && deadline == absl::InfiniteFuture() &&
                    options.idle_timeout != absl::InfiniteDuration();
  if (idle) deadline = absl::InfinitePast();  // marks "idle timer armed"

  if (want != registered_events_) {
    event_base* base = event_get_base(&event_);
    if (registered_events_ != 0) event_del(&event_);
    registered_events_ = want;
    armed_deadline_ = absl::InfiniteFuture();
    if (want == 0) return;
    event_assign(&event_, base, fd_, static_cast<short>(want | EV_PERSIST),
                 &SecureConnection::OnEvent, this);
    event_add(&event_, nullptr);
  }
  // A persistent event restarts its timeout (now + the interval it was
  // added with) whenever it fires, which is right for the idle timer but
  // would let trickled bytes push a partial frame's deadline out: while a
  // frame is incomplete, re-arm with what is left after every dispatch.
  const bool partial_timer = deadline != absl::InfiniteFuture() && !idle;
  if (want == 0 || (deadline == armed_deadline_ && !partial_timer)) return;
  // Only the timer changes: event_add on a pending event reschedules it and
  // event_remove_timer drops it, neither touching epoll.
  armed_deadline_ = deadline;
  if (deadline == absl::InfiniteFuture()) {
    event_remove_timer(&event_);
    return;
  }
  const absl::Duration wait = idle ? options.idle_timeout
                                   : std::max(deadline - absl::Now(), absl::ZeroDuration());
  timeval tv = absl::ToTimeval(wait);
  event_add(&event_, &tv);
}

void SecureConnection::HandleTimeout() {
  if (!status_.ok()) return;
  if (partial_held_ > 0 && partial_deadline_ != absl::InfiniteFuture()) {
    if (absl::Now() < partial_deadline_) return;  // re-armed below
    Fail(absl::DeadlineExceededError(absl::StrCat(
        "frame not completed within ",
        absl::FormatDuration(resources_->options.partial_frame_timeout), " (", partial_held_,
        " of ", partial_frame_size_ ? absl::StrCat(partial_frame_size_) : std::string("?"),
        " bytes arrived)")));
    return;
  }
  if (resources_->options.idle_timeout != absl::InfiniteDuration()) {
    Fail(absl::DeadlineExceededError(absl::StrCat(
        "idle for ", absl::FormatDuration(resources_->options.idle_timeout))));
  }
}

// ---------------------------------------------------------------------------
// Top-level dispatch. Handler callbacks are only made from here (never from
// inside a call the handler made), and after each one we check whether the
// handler destroyed the connection.

void SecureConnection::OnEvent(evutil_socket_t, short what, void* arg) {
  auto* self = static_cast<SecureConnection*>(arg);
  bool alive = true;
  self->alive_ = &alive;
  if (what & EV_TIMEOUT) self->HandleTimeout();
  if (what & EV_WRITE) {
    self->HandleWritable();
    if (!alive) return;
  }
  if (what & EV_READ) {
    self->HandleReadable();
    if (!alive) return;
  }
  self->FinishDispatch();
  if (!alive) return;
  self->alive_ = nullptr;
}

void SecureConnection::OnBufferAvailable() {
  // Any thread: only schedule; the retry runs on our reactor thread.
  wake_->Wake(this);
}

void SecureConnection::OnWake() {
  bool alive = true;
  alive_ = &alive;
  // A woken waiter holds a claim on a buffer: it must use it (AcquireOrWait)
  // or pass it on (CancelWait), or other waiters could starve.
  const bool had_read_claim = waiting_for_read_buffer_;
  const bool had_write_claim = waiting_for_write_buffer_;
  const uint32_t read_acquires_before = read_acquires_;
  const uint32_t write_acquires_before = write_acquires_;
  waiting_for_write_buffer_ = false;
  if (waiting_for_read_buffer_) {
    waiting_for_read_buffer_ = false;
    UpdateInterest();
  }
  if (unprocessed_input_ && status_.ok() && started_ && handler_ != nullptr && !paused_) {
    // Bytes that arrived behind the handshake are processed before any read.
    unprocessed_input_ = false;
    BufferLease source = std::move(partial_);
    const size_t held = partial_held_;
    partial_held_ = 0;
    partial_frame_size_ = 0;
    bool ok;
    if (pinned_ && held <= pinned_.size()) {
      memcpy(pinned_.data(), source.data(), held);
      source.Reset();
      ok = ProcessInput(pinned_.data(), held, source, /*in_pinned=*/true);
    } else {
      ok = ProcessInput(source.data(), held, source, /*in_pinned=*/false);
    }
    if (!alive) return;
    if (ok) UpdateInterest();
  }
  if (WantRead()) {
    HandleReadable();  // the socket may have become readable while we waited
    if (!alive) return;
  }
  if (write_blocked_notify_) {
    HandleWritable();
    if (!alive) return;
  }
  if (had_read_claim && read_acquires_ == read_acquires_before) {
    resources_->read_pool->CancelWait(this);
  }
  if (had_write_claim && write_acquires_ == write_acquires_before) {
    write_pool()->CancelWait(&write_waiter_);
  }
  FinishDispatch();
  if (!alive) return;
  alive_ = nullptr;
}

void SecureConnection::FinishDispatch() {
  UpdateInterest();  // partial-frame deadline started or ended during the dispatch
  if (end_reported_ || handler_ == nullptr || !started_) return;
  if (!status_.ok() || read_ended_) {
    end_reported_ = true;
    handler_->OnEnd(status_);
  }
}

bool SecureConnection::Deliver(absl::Span<uint8_t> data, BufferLease& lease) {
  bool* alive = alive_;
  const bool was_delivering = delivering_;
  delivering_ = true;
  handler_->OnData(data, lease);
  if (alive != nullptr && !*alive) return false;
  delivering_ = was_delivering;
  // A failure during OnData (a write the handler made met a reset) kept
  // the pinned buffer the handler was reading from: release it now.
  if (!status_.ok() && !delivering_) pinned_.Reset();
  return status_.ok();
}

// ---------------------------------------------------------------------------
// Reading.

void SecureConnection::HandleReadable() {
  bool* alive = alive_;
  for (size_t i = 0; i < resources_->options.max_reads_per_wakeup; ++i) {
    if (!WantRead()) return;
    bool more = ReadOnce();
    if (alive != nullptr && !*alive) return;
    if (!more) return;
  }
}

bool SecureConnection::ReadOnce() {
  const size_t cap = read_buffer_size();
  // Until a buffer's worth of a large frame has arrived, reads go through a
  // leased buffer like any other; after that, straight into the storage.
  if (partial_ && partial_frame_size_ > cap && partial_held_ >= cap) return ReadIntoAssembly();

  BufferLease lease;
  uint8_t* buf;
  size_t held = partial_held_;
  bool in_pinned = static_cast<bool>(pinned_);
  if (in_pinned) {
    buf = pinned_.data();
    if (partial_) {  // leftovers that arrived with the handshake
      memcpy(buf, partial_.data(), held);
      partial_.Reset();
    }
  } else {
    if (!waiting_for_read_buffer_) ++read_acquires_;
    lease = waiting_for_read_buffer_ ? BufferLease() : resources_->read_pool->AcquireOrWait(this);
    if (!lease) {
      // Budget exhausted: stop watching the fd until a buffer comes back
      // (OnBufferAvailable -> OnWake). Readers slow down; memory stays bounded.
      waiting_for_read_buffer_ = true;
      UpdateInterest();
      return false;
    }
    buf = lease.data();
    if (held > 0) {
      memcpy(buf, partial_.data(), held);
      partial_.Reset();
    }
  }
  partial_held_ = 0;

  ssize_t n;
  do {
    n = recv(fd_, buf + held, cap - held, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (held > 0) {
        if (in_pinned) {
          partial_held_ = static_cast<uint32_t>(held);
        } else if (!StashPartial(buf, held, partial_frame_size_)) {
          return false;
        }
      }
      return false;
    }
    Fail(ErrnoStatus("read", errno));
    return false;
  }
  if (n == 0) {
    if (held > 0) {
      Fail(absl::DataLossError(absl::StrCat(
          "peer closed the connection inside a frame (truncated frame: ", held, " of ",
          partial_frame_size_ ? absl::StrCat(partial_frame_size_) : std::string("?"),
          " bytes)")));
    } else {
      read_ended_ = true;
      MaybeFinishClose();
      UpdateInterest();
    }
    return false;
  }
  const bool filled = static_cast<size_t>(n) == cap - held;
  // On demand, the frames are opened straight into a second buffer, which is
  // what the handler gets: no move of the plaintext past the frame headers
  // and tags. Both buffers go back to the pool within this wakeup. Not for a
  // pool with a budget (a reader takes one buffer there, so a budget bounds
  // readers), and never waiting: without a buffer at hand, open in place.
  BufferLease plaintext_lease;
  if (open_into_second_buffer_ && !in_pinned) {
    plaintext_lease = resources_->read_pool->TryAcquire();
  }
  if (!ProcessInput(buf, held + static_cast<size_t>(n), lease, in_pinned,
                    plaintext_lease ? &plaintext_lease : nullptr)) {
    return false;
  }
  return filled;
}

bool SecureConnection::ReadIntoAssembly() {
  // A frame larger than a read buffer, of which at least a buffer's worth
  // has arrived: read straight into its storage, growing the storage with
  // what arrives (see StashPartial).
  if (partial_held_ == partial_.size()) {
    BufferLease old = std::move(partial_);
    if (!StashPartial(old.data(), partial_held_, partial_frame_size_)) return false;
  }
  const size_t room = std::min<size_t>(partial_.size(), partial_frame_size_) - partial_held_;
  ssize_t n;
  do {
    n = recv(fd_, partial_.data() + partial_held_, room, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    Fail(ErrnoStatus("read", errno));
    return false;
  }
  if (n == 0) {
    Fail(absl::DataLossError(absl::StrCat(
        "peer closed the connection inside a frame (truncated frame: ", partial_held_, " of ",
        partial_frame_size_, " bytes)")));
    return false;
  }
  partial_held_ += static_cast<uint32_t>(n);
  if (partial_held_ < partial_frame_size_) return static_cast<size_t>(n) == room;
  BufferLease source = std::move(partial_);
  size_t held = partial_held_;
  partial_held_ = 0;
  partial_frame_size_ = 0;
  return ProcessInput(source.data(), held, source, /*in_pinned=*/false);
}

bool SecureConnection::ProcessInput(uint8_t* buf, size_t total, BufferLease& lease,
                                    bool in_pinned, BufferLease* plaintext_lease) {
  OpenedInput opened;
  // Where the plaintext ends up, and the lease that goes with it.
  uint8_t* plain = buf;
  BufferLease* plain_lease = &lease;
  if (!protector_.has_value()) {
    opened.plaintext = opened.consumed = total;  // plaintext: bytes as they came
  } else if (plaintext_lease != nullptr) {
    plain = plaintext_lease->data();
    plain_lease = plaintext_lease;
    opened = OpenFramesInto(*protector_, buf, total, plain);
  } else {
    opened = OpenFramesInPlace(*protector_, buf, total);
  }
  const size_t out = opened.plaintext;
  const size_t off = opened.consumed;
  const size_t pending_frame = opened.pending_frame_size;
  absl::Status& error = opened.error;
  if (!error.ok()) {
    // Frames that authenticated before the bad one are still delivered;
    // then the connection fails with the frame's error.
    if (out > 0) {
      BufferLease none;
      if (!Deliver(absl::MakeSpan(plain, out), in_pinned ? none : *plain_lease)) return false;
    }
    Fail(std::move(error));
    return false;
  }
  if (pending_frame > resources_->options.max_frame_size_in) {
    Fail(absl::ResourceExhaustedError(absl::StrCat(
        "peer announced a frame of ", pending_frame, " bytes; this connection accepts at most ",
        resources_->options.max_frame_size_in)));
    return false;
  }
  const size_t leftover = total - off;
  const bool keep_in_pinned =
      in_pinned && leftover > 0 && pending_frame <= read_buffer_size();
  if (leftover > 0 && !keep_in_pinned) {
    // Keep the incomplete frame's bytes in storage sized to them, so the read
    // buffer can go back to the pool (and to the handler, if it wants it).
    if (!StashPartial(buf + off, leftover, pending_frame)) return false;
  }
  if (out > 0) {
    BufferLease none;
    if (!Deliver(absl::MakeSpan(plain, out), in_pinned ? none : *plain_lease)) return false;
  }
  if (keep_in_pinned) {
    memmove(pinned_.data(), buf + off, leftover);
    partial_held_ = static_cast<uint32_t>(leftover);
    partial_frame_size_ = static_cast<uint32_t>(pending_frame);
  }
  return true;
}

bool SecureConnection::StashPartial(const uint8_t* bytes, size_t size, size_t frame_size) {
  // Storage is sized to what has arrived (rounded up to a class; classes
  // grow 4x, so growing costs at most a third more copying). A frame larger
  // than a read buffer gets storage for all of it once kAssembleWholeFrameAt
  // bytes are in: a peer that announces a large frame and trickles it holds
  // little, a real large frame is copied about 10% more than once.
  size_t want = size;
  if (frame_size > read_buffer_size()) {
    want = size >= kAssembleWholeFrameAt ? frame_size
                                         : std::min(frame_size, std::max(size + 1, 2 * size));
  }
  partial_ = resources_->storage->Acquire(want);
  if (!partial_) {
    Fail(absl::ResourceExhaustedError(
        absl::StrCat("no storage for ", want, " bytes of an incomplete frame")));
    return false;
  }
  memcpy(partial_.data(), bytes, size);
  partial_held_ = static_cast<uint32_t>(size);
  partial_frame_size_ = static_cast<uint32_t>(frame_size);
  return true;
}

// ---------------------------------------------------------------------------
// Writing.

SecureConnection::WriteChunk* SecureConnection::NewChunk() {
  BufferPool* pool = write_pool();
  if (!waiting_for_write_buffer_) ++write_acquires_;
  BufferLease lease = waiting_for_write_buffer_ ? pool->TryAcquire()
                                                : pool->AcquireOrWait(&write_waiter_);
  if (!lease) {
    waiting_for_write_buffer_ = true;
    UpdateInterest();
    return nullptr;
  }
  uint8_t* mem = lease.data();
  auto* chunk = new (mem) WriteChunk();
  chunk->lease = std::move(lease);
  chunk->begin = chunk->end = kChunkHeaderSize;
  if (write_tail_ == nullptr) {
    write_head_ = write_tail_ = chunk;
  } else {
    write_tail_->next = chunk;
    write_tail_ = chunk;
  }
  return chunk;
}

void SecureConnection::FreeChunk(WriteChunk* chunk) {
  BufferLease lease = std::move(chunk->lease);
  chunk->~WriteChunk();
  // `lease` goes back to the pool here.
}

absl::StatusOr<size_t> SecureConnection::Write(absl::Span<const uint8_t> plaintext) {
  if (!status_.ok()) return status_;
  if (write_closing_) return absl::FailedPreconditionError("Write after Close");
  size_t accepted = 0;
  const size_t high_water = resources_->options.write_high_water;
  while (accepted < plaintext.size()) {
    if (pending_write_ >= high_water) {
      Flush();  // the socket may take it all now
      if (!status_.ok()) return status_;
      if (pending_write_ >= high_water) break;
    }
    WriteChunk* chunk = write_tail_;
    size_t fits = 0;
    if (chunk != nullptr) fits = WritableIn(chunk->lease.size() - chunk->end);
    if (fits == 0) {
      // Send what is sealed before taking another buffer: when the socket
      // keeps up, one buffer is reused for the whole message.
      Flush();
      if (!status_.ok()) return status_;
      chunk = NewChunk();
      if (chunk == nullptr) break;  // pool exhausted: OnWritable when one returns
      fits = WritableIn(chunk->lease.size() - chunk->end);
    }
    const size_t n = std::min(fits, plaintext.size() - accepted);
    absl::StatusOr<size_t> sealed = n;
    if (protector_.has_value()) {
      sealed = protector_->Seal(
          plaintext.subspan(accepted, n),
          absl::MakeSpan(chunk->lease.data() + chunk->end, chunk->lease.size() - chunk->end));
    } else {
      memcpy(chunk->lease.data() + chunk->end, plaintext.data() + accepted, n);
    }
    if (!sealed.ok()) {
      Fail(sealed.status());
      return status_;
    }
    chunk->end += static_cast<uint32_t>(*sealed);
    pending_write_ += *sealed;
    accepted += n;
  }
  if (accepted < plaintext.size()) write_blocked_notify_ = true;
  Flush();
  if (!status_.ok()) return status_;
  if (resources_->options.idle_timeout != absl::InfiniteDuration() && accepted > 0) {
    armed_deadline_ = absl::InfiniteFuture() - absl::Nanoseconds(1);  // writing is activity
  }
  UpdateInterest();
  if (write_blocked_notify_ && !waiting_for_write_buffer_ && pending_write_ <= high_water / 2) {
    // Everything went out already, so no write event will fire: owe the
    // handler its OnWritable from the next dispatch instead.
    wake_->Wake(this);
  }
  return accepted;
}

void SecureConnection::Flush() {
  while (write_head_ != nullptr && fd_ >= 0) {
    iovec iov[kMaxIovecs];
    int count = 0;
    for (WriteChunk* c = write_head_; c != nullptr && count < kMaxIovecs; c = c->next) {
      if (c->end == c->begin) continue;
      iov[count].iov_base = c->lease.data() + c->begin;
      iov[count].iov_len = c->end - c->begin;
      ++count;
    }
    if (count == 0) {
      // Only empty chunks (possible when sealing failed): drop them.
      while (write_head_ != nullptr) {
        WriteChunk* next = write_head_->next;
        FreeChunk(write_head_);
        write_head_ = next;
      }
      write_tail_ = nullptr;
      break;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n;
    do {
      n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        drain_owed_ = true;
        break;
      }
      Fail(ErrnoStatus("write", errno));
      return;
    }
    size_t sent = static_cast<size_t>(n);
    pending_write_ -= sent;
    // Free every chunk that is now fully sent (an idle connection keeps none).
    while (write_head_ != nullptr) {
      WriteChunk* c = write_head_;
      const size_t in_chunk = c->end - c->begin;
      if (sent < in_chunk) {
        c->begin += static_cast<uint32_t>(sent);
        break;
      }
      sent -= in_chunk;
      write_head_ = c->next;
      if (write_head_ == nullptr) write_tail_ = nullptr;
      FreeChunk(c);
    }
  }
  UpdateInterest();
}

void SecureConnection::HandleWritable() {
  bool* alive = alive_;
  Flush();
  MaybeFinishClose();
  if (drain_owed_ && write_head_ == nullptr && status_.ok() && handler_ != nullptr) {
    drain_owed_ = false;
    handler_->OnDrained();
    if (alive != nullptr && !*alive) return;
  }
  if (write_blocked_notify_ && status_.ok() && !write_closing_ && !waiting_for_write_buffer_ &&
      pending_write_ <= resources_->options.write_high_water / 2) {
    write_blocked_notify_ = false;
    handler_->OnWritable();
    if (alive != nullptr && !*alive) return;
  }
}

// ---------------------------------------------------------------------------
// Closing and errors.

void SecureConnection::Close() {
  if (write_closing_ || !status_.ok()) return;
  write_closing_ = true;
  write_blocked_notify_ = false;
  Flush();
  MaybeFinishClose();
}

void SecureConnection::MaybeFinishClose() {
  if (!status_.ok() || fd_ < 0) return;
  if (write_closing_ && !write_closed_ && write_head_ == nullptr) {
    shutdown(fd_, SHUT_WR);
    write_closed_ = true;
  }
  if (write_closed_ && read_ended_) {
    CloseFd();
    UpdateInterest();
  }
}

void SecureConnection::Abort(absl::Status reason) {
  if (reason.ok()) reason = absl::CancelledError("connection aborted");
  Fail(std::move(reason));
}

void SecureConnection::Fail(absl::Status status) {
  if (!status_.ok()) return;
  status_ = std::move(status);
  if (registered_events_ != 0) event_del(&event_);
  registered_events_ = 0;
  CloseFd();
  ReleaseBuffers();
  // OnEnd is reported from a top-level dispatch: now if we are in one (see
  // FinishDispatch), otherwise on the next turn of the reactor.
  if (alive_ == nullptr) wake_->Wake(this);
}

void SecureConnection::CloseFd() {
  if (fd_ < 0) return;
  if (registered_events_ != 0) event_del(&event_);
  registered_events_ = 0;
  close(fd_);
  fd_ = -1;
}

void SecureConnection::ReleaseBuffers() {
  while (write_head_ != nullptr) {
    WriteChunk* next = write_head_->next;
    FreeChunk(write_head_);
    write_head_ = next;
  }
  write_tail_ = nullptr;
  pending_write_ = 0;
  partial_.Reset();
  partial_held_ = 0;
  partial_frame_size_ = 0;
  // Not while OnData reads the bytes it holds (Deliver releases it after).
  if (!delivering_) pinned_.Reset();
}

}  // namespace alts
