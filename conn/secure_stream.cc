#include "conn/secure_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conn/frame_opener.h"
#include "conn/seal_sizing.h"

namespace alts {
namespace {

absl::Status SocketError(absl::string_view what, int err) {
  if (err == ECONNRESET || err == EPIPE || err == ENOTCONN) {
    return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
  }
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SecureStream>> SecureStream::Create(
    int fd, RecordProtector protector, BufferPool* pool, StoragePool* storage,
    absl::Span<const uint8_t> initial_bytes) {
  if (fd < 0) return absl::InvalidArgumentError("SecureStream: bad fd");
  if (pool == nullptr || storage == nullptr) {
    close(fd);
    return absl::InvalidArgumentError("SecureStream: missing pools");
  }
  if (pool->buffer_size() < kMinFrameSize + 1) {
    close(fd);
    return absl::InvalidArgumentError("SecureStream: read buffers are too small");
  }
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    absl::Status s = SocketError("SecureStream: fcntl(O_NONBLOCK)", errno);
    close(fd);
    return s;
  }
  std::unique_ptr<SecureStream> stream(
      new SecureStream(fd, std::move(protector), pool, storage));
  if (!initial_bytes.empty()) {
    // Leftovers are opened now; their plaintext waits in surplus_.
    BufferLease input = storage->Acquire(initial_bytes.size());
    if (!input) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SecureStream: ", initial_bytes.size(), " bytes behind the handshake are too many"));
    }
    memcpy(input.data(), initial_bytes.data(), initial_bytes.size());
    uint8_t none;
    absl::StatusOr<size_t> n =
        stream->Process(input.data(), initial_bytes.size(), absl::MakeSpan(&none, 0));
    if (!n.ok()) return n.status();
  }
  return stream;
}

SecureStream::SecureStream(int fd, RecordProtector protector, BufferPool* pool,
                           StoragePool* storage)
    : fd_(fd), protector_(std::move(protector)), pool_(pool), storage_(storage) {}

SecureStream::~SecureStream() { (void)Close(); }

size_t SecureStream::HeapBytes() const {
  size_t bytes = sizeof(*this);
  if (partial_) bytes += partial_.size();
  if (surplus_) bytes += surplus_.size();
  return bytes;
}

absl::Status SecureStream::Wait(short events, absl::Time deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("SecureStream: timed out waiting for the socket");
      }
      timeout_ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    }
    pollfd p{fd_, events, 0};
    const int r = poll(&p, 1, timeout_ms);
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return SocketError("poll", errno);
  }
}

bool SecureStream::Keep(BufferLease& slot, uint32_t& held, const uint8_t* bytes, size_t size,
                        size_t reserve) {
  slot = storage_->Acquire(std::max(size, reserve));
  if (!slot) return false;
  memcpy(slot.data(), bytes, size);
  held = static_cast<uint32_t>(size);
  return true;
}

absl::Status SecureStream::ReadFailed(absl::Status status) {
  read_status_ = std::move(status);
  partial_.Reset();
  partial_held_ = 0;
  return read_status_;
}

absl::StatusOr<size_t> SecureStream::Process(uint8_t* buf, size_t total,
                                             absl::Span<uint8_t> out) {
  OpenedInput opened = OpenFramesInPlace(protector_, buf, total);
  const size_t plain = opened.plaintext;
  const size_t pending_frame = opened.pending_frame_size;
  size_t off = opened.consumed;
  if (!opened.error.ok()) {
    // Plaintext of the frames before the bad one is still handed over; the
    // error comes with the next Read.
    (void)ReadFailed(std::move(opened.error));
    off = total;
  }
  if (off < total) {
    const size_t reserve = pending_frame > pool_->buffer_size() ? pending_frame : 0;
    if (!Keep(partial_, partial_held_, buf + off, total - off, reserve)) {
      return ReadFailed(absl::ResourceExhaustedError("no storage for an incomplete frame"));
    }
    partial_frame_size_ = static_cast<uint32_t>(pending_frame);
  }
  if (!read_status_.ok() && plain == 0) return read_status_;
  const size_t n = std::min(plain, out.size());
  if (n > 0) memcpy(out.data(), buf, n);
  if (plain > n) {
    uint32_t held = 0;
    if (!Keep(surplus_, held, buf + n, plain - n, 0)) {
      return ReadFailed(absl::ResourceExhaustedError("no storage for surplus plaintext"));
    }
    surplus_begin_ = 0;
    surplus_end_ = held;
  }
  return n;
}

absl::StatusOr<size_t> SecureStream::Read(absl::Span<uint8_t> out, absl::Duration timeout) {
  if (out.empty()) return absl::InvalidArgumentError("SecureStream::Read: empty output span");
  if (surplus_end_ > surplus_begin_) {
    const size_t n = std::min<size_t>(out.size(), surplus_end_ - surplus_begin_);
    memcpy(out.data(), surplus_.data() + surplus_begin_, n);
    surplus_begin_ += static_cast<uint32_t>(n);
    if (surplus_begin_ == surplus_end_) {
      surplus_.Reset();
      surplus_begin_ = surplus_end_ = 0;
    }
    return n;
  }
  if (!read_status_.ok()) return read_status_;
  if (eof_ || fd_ < 0) return 0;
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  for (;;) {
    // Wait holding no buffer.
    if (absl::Status s = Wait(POLLIN, deadline); !s.ok()) {
      if (s.code() == absl::StatusCode::kDeadlineExceeded) return s;  // not sticky
      return ReadFailed(std::move(s));
    }
    BufferLease lease;
    uint8_t* buf;
    size_t cap;
    size_t held = partial_held_;
    const bool assembling = partial_ && partial_frame_size_ > pool_->buffer_size();
    if (assembling) {
      // A frame larger than a read buffer is read straight into its storage.
      lease = std::move(partial_);
      buf = lease.data();
      cap = partial_frame_size_;
    } else {
      const absl::Duration left = deadline == absl::InfiniteFuture()
                                      ? absl::InfiniteDuration()
                                      : deadline - absl::Now();
      lease = pool_->AcquireBlocking(left);
      if (!lease) return absl::DeadlineExceededError("SecureStream: no read buffer in time");
      buf = lease.data();
      cap = lease.size();
      if (held > 0) memcpy(buf, partial_.data(), held);
      partial_.Reset();
    }
    partial_held_ = 0;
    ssize_t n;
    do {
      n = recv(fd_, buf + held, cap - held, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (assembling) {
        partial_ = std::move(lease);
        partial_held_ = static_cast<uint32_t>(held);
      } else if (held > 0 && !Keep(partial_, partial_held_, buf, held, 0)) {
        return ReadFailed(absl::ResourceExhaustedError("no storage for an incomplete frame"));
      }
      continue;
    }
    if (n < 0) return ReadFailed(SocketError("read", errno));
    if (n == 0) {
      if (held > 0) {
        return ReadFailed(absl::DataLossError(absl::StrCat(
            "peer closed the connection inside a frame (truncated frame: ", held, " bytes)")));
      }
      eof_ = true;
      return 0;
    }
    const size_t total = held + static_cast<size_t>(n);
    if (assembling && total < cap) {
      partial_ = std::move(lease);
      partial_held_ = static_cast<uint32_t>(total);
      continue;
    }
    absl::StatusOr<size_t> copied = Process(buf, total, out);
    if (!copied.ok()) return copied.status();
    if (*copied > 0) return *copied;
  }
}

absl::Status SecureStream::Write(absl::Span<const uint8_t> data) {
  if (!write_status_.ok()) return write_status_;
  if (fd_ < 0) return absl::FailedPreconditionError("SecureStream: closed");
  BufferLease lease;
  size_t off = 0;
  while (off < data.size()) {
    if (!lease) {
      lease = pool_->AcquireBlocking(absl::InfiniteDuration());
      if (!lease) return absl::ResourceExhaustedError("SecureStream: no write buffer");
    }
    const size_t take = std::min(PlaintextFitting(protector_, lease.size()), data.size() - off);
    absl::StatusOr<size_t> sealed = protector_.Seal(data.subspan(off, take), lease.span());
    if (!sealed.ok()) return write_status_ = sealed.status();
    off += take;
    size_t sent = 0;
    while (sent < *sealed) {
      ssize_t n = send(fd_, lease.data() + sent, *sealed - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (absl::Status s = Wait(POLLOUT, absl::InfiniteFuture()); !s.ok()) {
          return write_status_ = s;
        }
        continue;
      }
      return write_status_ = SocketError("write", errno);
    }
  }
  return absl::OkStatus();
}

absl::Status SecureStream::Close() {
  if (fd_ < 0) return absl::OkStatus();
  shutdown(fd_, SHUT_WR);
  const int r = close(fd_);
  fd_ = -1;
  partial_.Reset();
  surplus_.Reset();
  if (r < 0 && errno != EINTR) return SocketError("close", errno);
  return absl::OkStatus();
}

}  // namespace alts
