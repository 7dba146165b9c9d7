#include "rpc/h2_transport.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace alts::rpc {
namespace {

// OutputScratch gathers one transport's output during a dispatch. One per
// thread, lent to whichever transport writes: a transport that writes while
// another's bytes are in it flushes those first, so bytes never mix.
struct OutputScratch {
  H2Transport* owner = nullptr;
  std::vector<uint8_t> buf;
  size_t used = 0;
};

OutputScratch& Scratch() {
  thread_local OutputScratch scratch;
  return scratch;
}

}  // namespace

H2Transport::H2Transport(Reactor& reactor, http2::Role role, const http2::SessionOptions* options)
    : reactor_(reactor), session_(role, options, this, this) {
  // The RPC layer credits DATA as calls take it (PauseReads).
  session_.set_auto_window_update(false);
}

H2Transport::~H2Transport() {
  OutputScratch& s = Scratch();
  if (s.owner == this) {
    s.owner = nullptr;
    s.used = 0;
  }
  // The subclass ended the session in its destructor (EndSession), so the
  // session's destructor has no stream left to report.
  ended_ = true;
  timer_.reset();
  conn_.reset();
}

void H2Transport::EndSession(const absl::Status& status) {
  ended_ = true;
  session_.Abort(status);
}

void H2Transport::Attach(std::unique_ptr<SecureConnection> connection) {
  DispatchScope scope(this);
  conn_ = std::move(connection);
  conn_->Start(this);
  session_.Start();
}

void H2Transport::Write(absl::Span<const uint8_t> bytes) {
  if (ended_ || bytes.empty()) return;
  OutputScratch& s = Scratch();
  if (s.owner != this) {
    if (s.owner != nullptr && s.used > 0) s.owner->Flush();
    s.owner = this;
  }
  if (bytes.size() >= kDirectWriteBytes && conn_ != nullptr) {
    // A large DATA payload goes to the connection as it is (one copy fewer);
    // what was gathered before it goes first, to keep the order.
    Flush();
    WriteToConnection(bytes);
    return;
  }
  if (s.buf.size() < s.used + bytes.size()) {
    s.buf.resize(std::max(s.used + bytes.size(), 2 * s.buf.size()));
  }
  memcpy(s.buf.data() + s.used, bytes.data(), bytes.size());
  s.used += bytes.size();
  if (s.used >= kScratchFlushBytes) Flush();
}

void H2Transport::WriteToConnection(absl::Span<const uint8_t> bytes) {
  if (!overflow_.empty()) {
    overflow_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return;
  }
  absl::StatusOr<size_t> n = conn_->Write(bytes);
  if (!n.ok()) return;  // the connection failed: OnEnd follows
  if (*n < bytes.size()) {
    overflow_.assign(reinterpret_cast<const char*>(bytes.data()) + *n, bytes.size() - *n);
  }
}

void H2Transport::Flush() {
  OutputScratch& s = Scratch();
  if (s.owner == this && s.used > 0) {
    const size_t used = s.used;
    s.used = 0;
    if (!ended_ && conn_ != nullptr) WriteToConnection(absl::MakeConstSpan(s.buf.data(), used));
  }
  if (!ended_ && conn_ != nullptr && overflow_.empty() && conn_->pending_write_bytes() == 0) {
    session_.OnOutputDrained();
  }
}

void H2Transport::DrainOverflow() {
  if (overflow_.empty() || ended_ || conn_ == nullptr) return;
  absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(overflow_.data()), overflow_.size()));
  if (!n.ok()) return;
  if (*n == overflow_.size()) {
    std::string().swap(overflow_);  // hold nothing once drained
  } else {
    overflow_.erase(0, *n);
  }
}

bool H2Transport::can_send_data() const {
  if (ended_ || conn_ == nullptr) return false;
  const bool ok = overflow_.empty() && conn_->pending_write_bytes() < kTransportDataHighWater;
  if (!ok) const_cast<H2Transport*>(this)->data_waiting_ = true;
  return ok;
}

void H2Transport::OnData(absl::Span<uint8_t> data, BufferLease&) {
  DispatchScope scope(this);
  (void)session_.Receive(data);
}

void H2Transport::OnEnd(const absl::Status& status) {
  DispatchScope scope(this);
  ended_ = true;
  OutputScratch& s = Scratch();
  if (s.owner == this) s.used = 0;
  std::string().swap(overflow_);
  session_.Abort(status.ok() ? absl::UnavailableError("connection closed by the peer") : status);
  OnTransportEnd(status);
}

void H2Transport::OnWritable() {
  DispatchScope scope(this);
  DrainOverflow();
}

void H2Transport::OnDrained() {
  DispatchScope scope(this);
  DrainOverflow();
  if (overflow_.empty()) session_.OnOutputDrained();
}

void H2Transport::DeleteLater() {
  H2Transport* self = this;
  if (!reactor_.Post([self] { delete self; })) delete_at_end_ = true;
}

void H2Transport::EndDispatch() {
  ++depth_;
  OnDispatchEnd();
  --depth_;
  // Everything the dispatch produced goes out in one write.
  Flush();
  if (ended_) {
    timer_.reset();
    if (delete_at_end_) delete this;  // last: nothing touches this afterwards
    return;
  }
  if (data_waiting_ && overflow_.empty() && conn_->pending_write_bytes() < kTransportDataHighWater) {
    data_waiting_ = false;
    ++depth_;
    OnTransportWritable();
    --depth_;
    Flush();
  }
  if (!closing_ && session_.ended()) {
    ++depth_;
    OnSessionEnded();
    --depth_;
    CloseTransport();
  }
  if (!ended_) UpdateTimer();
}

void H2Transport::CloseTransport() {
  if (closing_ || ended_ || conn_ == nullptr) return;
  closing_ = true;
  Flush();
  DrainOverflow();
  conn_->Close();
  linger_until_ = absl::Now() + kCloseLinger;
  UpdateTimer();
}

void H2Transport::AbortTransport(absl::Status reason) {
  if (ended_ || conn_ == nullptr) return;
  conn_->Abort(std::move(reason));  // OnEnd follows from the connection's dispatch
}

void H2Transport::UpdateTimer() {
  const absl::Time at = std::min({session_.next_deadline(), NextTimer(), linger_until_});
  if (at == absl::InfiniteFuture()) {
    // Nothing due: an idle connection keeps no timer.
    timer_.reset();
    timer_at_ = at;
    return;
  }
  if (timer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<ReactorEvent>> t =
        ReactorEvent::CreateTimer(reactor_, [this](short) { FireTimer(); });
    if (!t.ok()) return;
    timer_ = std::move(*t);
    timer_at_ = absl::InfiniteFuture();
  }
  if (at != timer_at_ || !timer_->IsPending()) {
    timer_at_ = at;
    (void)timer_->Add(std::max(at - absl::Now(), absl::ZeroDuration()));
  }
}

void H2Transport::FireTimer() {
  DispatchScope scope(this);
  timer_at_ = absl::InfiniteFuture();
  const absl::Time now = absl::Now();
  if (now >= linger_until_ && conn_ != nullptr && !ended_) {
    linger_until_ = absl::InfiniteFuture();
    conn_->Abort(absl::DeadlineExceededError("peer did not close after GOAWAY"));
    return;
  }
  (void)session_.CheckTimeouts(now);
  OnTimer(now);
}

size_t H2Transport::TransportHeapBytes() const {
  size_t bytes = session_.HeapBytes() + overflow_.capacity();
  if (conn_ != nullptr) bytes += conn_->HeapBytes();
  if (timer_ != nullptr) bytes += sizeof(ReactorEvent) + 160;  // + libevent's event
  return bytes;
}

}  // namespace alts::rpc
